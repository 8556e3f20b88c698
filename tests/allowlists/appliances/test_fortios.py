"""The FortiOS reader: hand-written FortiGate configurations whose allowed and denied sources
for a service are worked out here from Fortinet's documentation:

- "config firewall policy", FortiOS 7.6.1 CLI reference,
  https://docs.fortinet.com/document/fortigate/7.6.1/cli-reference/333889629 (srcintf,
  dstintf, srcaddr, dstaddr, srcaddr6, dstaddr6, -negate, service, schedule, users, groups,
  status; ``action`` deny when not set) with the administration guide's policy lookup: the
  policies are matched from the top of the list down, in their order, not by id, and what no
  policy matches is refused by the implicit deny (policy 0);
- "firewall address" / "firewall addrgrp", FortiOS 6.0 CLI reference,
  https://docs.fortinet.com/document/fortigate/6.0.0/cli-reference/843701 (type ipmask with
  ``subnet`` as mask or prefix, iprange ``start-ip``/``end-ip``, fqdn, geography; groups with
  ``member``, ``exclude enable`` and ``exclude-member``);
- "firewall service custom", FortiOS 6.0 CLI reference,
  https://docs.fortinet.com/document/fortigate/6.0.0/cli-reference/398367/firewall-service-custom
  (``tcp-portrange`` items ``DST[-DST]:SRC[-SRC]``);
- predefined services (``SMTP`` is tcp/25, ``ALL`` every protocol): FortiOS 5.4 online help,
  "Services and TCP ports".
"""

from __future__ import annotations

from pathlib import Path

import pytest
from conftest import RunCli, WriteFile

from auditor.allowlists import ReadContext, reader_for
from auditor.allowlists.base import ReaderError
from auditor.ipspace import parse_address
from auditor.model import RangeSet
from auditor.service import Service
from auditor.sources.files import detect_format

CONFIG = """\
#config-version=FGT60F-7.2.5-FW-build1517-230606:opmode=0:vdom=0:user=admin
#conf_file_ver=1
config system zone
    edit "dmz-zone"
        set interface "port3"
    next
end
config firewall address
    edit "all"
    next
    edit "mx"
        set subnet 203.0.113.25 255.255.255.255
    next
    edit "relays net"
        set subnet 192.0.2.0/24
    next
    edit "bad-host"
        set subnet 192.0.2.66 255.255.255.255
    next
    edit "range"
        set type iprange
        set start-ip 198.51.100.10
        set end-ip 198.51.100.20
    next
    edit "partner"
        set type fqdn
        set fqdn "mail.partner.example"
    next
    edit "cgnat"
        set subnet 100.64.0.0 255.192.0.0
    next
end
config firewall addrgrp
    edit "inner"
        set member "range"
    next
    edit "SENDERS"
        set member "relays net" "inner"
        set exclude enable
        set exclude-member "bad-host"
    next
end
config firewall address6
    edit "all"
    next
    edit "v6-relays"
        set ip6 2001:db8:1::/48
    next
end
config firewall service custom
    edit "SMTP-25-26"
        set tcp-portrange 25-26
    next
end
config firewall service group
    edit "MAIL"
        set member "SMTP" "SMTP-25-26"
    next
end
config firewall policy
    edit 9
        set name "block-cgnat"
        set srcintf "port1"
        set dstintf "port2"
        set srcaddr "cgnat"
        set dstaddr "all"
        set schedule "always"
        set service "ALL"
    next
    edit 3
        set srcintf "port1"
        set dstintf "port2"
        set srcaddr "SENDERS"
        set dstaddr "mx"
        set srcaddr6 "v6-relays"
        set dstaddr6 "all"
        set action accept
        set schedule "always"
        set service "MAIL"
    next
    edit 5
        set status disable
        set srcintf "any"
        set dstintf "any"
        set srcaddr "all"
        set dstaddr "all"
        set action accept
        set service "ALL"
    next
    edit 4
        set srcintf "port1"
        set dstintf "port2"
        set srcaddr "partner"
        set dstaddr "all"
        set action accept
        set service "SMTP"
    next
    edit 6
        set srcintf "port1"
        set dstintf "port2"
        set srcaddr "relays net"
        set srcaddr-negate enable
        set dstaddr "all"
        set action accept
        set schedule "weekdays"
        set service "SMTP"
    next
    edit 8
        set srcintf "port1"
        set dstintf "dmz-zone"
        set srcaddr "relays net"
        set dstaddr "all"
        set action accept
        set service "SMTP"
        set groups "mail-admins"
    next
    edit 10
        set srcintf "port1"
        set dstintf "dmz-zone"
        set srcaddr "range"
        set dstaddr "all"
        set action accept
        set service "SMTP"
    next
end
"""


def line_of(text: str, needle: str, after: str = "") -> int:
    """The line of the first ``needle`` at or after the line holding ``after``."""
    lines = text.split("\n")
    start = next(i for i, line in enumerate(lines) if after in line) if after else 0
    return next(i for i in range(start, len(lines)) if needle in lines[i]) + 1


def read(
    text: str,
    chain: str | None = None,
    to: str | None = "203.0.113.25",
    service: str = "tcp/25",
    name: str = "fgt.conf",
) -> RangeSet:
    ctx = ReadContext(name, "declared", service=Service.parse(service), chain=chain, to=to)
    return reader_for("fortios").parse(text.encode(), ctx)


def verdict(rs: RangeSet, address: str) -> tuple[str, int | None, str]:
    fam, value, _ = parse_address(address)
    for v in rs.verdicts:
        if v.family == fam:
            seg = v.lookup(value)
            assert seg is not None
            return seg.outcome, seg.rule.origin.line, seg.rule.why
    raise AssertionError(f"no IPv{fam} verdicts")


EDIT = {n: line_of(CONFIG, f"edit {n}", "config firewall policy") for n in (3, 4, 6, 8, 9, 10)}
END = len(CONFIG.split("\n")) - 1  # the policy table's `end`


def test_policies_in_list_order_not_by_id() -> None:
    rs = read(CONFIG, chain="port1:port2")
    # policy 9 comes first in the list although its id is the highest; no action: deny
    assert verdict(rs, "100.64.1.1")[:2] == ("drop", EDIT[9])
    assert verdict(rs, "192.0.2.1")[:2] == ("accept", EDIT[3])  # relays net, via SENDERS
    assert verdict(rs, "198.51.100.15")[:2] == ("accept", EDIT[3])  # nested group, iprange
    assert verdict(rs, "2001:db8:1::5")[:2] == ("accept", EDIT[3])  # srcaddr6
    # the excluded member falls through to the fqdn policy: conditional, named by it
    outcome, line, why = verdict(rs, "192.0.2.66")
    assert (outcome, line) == ("conditional", EDIT[4]) and "fqdn" in why
    # 8.8.8.8: the fqdn policy and then the weekdays policy (negated relays) may accept it
    assert verdict(rs, "8.8.8.8")[0] == "conditional"
    # an IPv6 source no policy names: the implicit deny (policy 4 and 6 have no srcaddr6)
    assert verdict(rs, "2001:db8:2::1") == ("drop", END, "")


def test_the_interface_pair_and_zones() -> None:
    # port3 is in dmz-zone: policies 8 and 10 apply, 3 to 9 do not
    rs = read(CONFIG, chain="port1:port3")
    outcome, line, why = verdict(rs, "192.0.2.1")
    assert (outcome, line) == ("conditional", EDIT[8]) and "mail-admins" in why
    assert verdict(rs, "198.51.100.12")[:2] == ("accept", EDIT[10])
    assert verdict(rs, "100.64.1.1") == ("drop", END, "")  # policy 9 is for port2
    assert verdict(rs, "8.8.8.8") == ("drop", END, "")
    # the zone's name does as well as its interface
    assert verdict(read(CONFIG, chain="port1:dmz-zone"), "198.51.100.12")[0] == "accept"


def test_without_a_pair_interface_bound_policies_are_conditional() -> None:
    rs = read(CONFIG)
    outcome, line, why = verdict(rs, "100.64.1.1")
    assert (outcome, line) == ("conditional", EDIT[9])
    assert "--chain SRC:DST" in why


def test_destination_and_service() -> None:
    # another destination: policy 3 (dstaddr mx) does not apply; the weekdays policy may
    rs = read(CONFIG, chain="port1:port2", to="203.0.113.26")
    assert verdict(rs, "198.51.100.15")[0] == "conditional"
    # no --to: the destination decides, and the rule says to give it
    outcome, line, why = verdict(read(CONFIG, chain="port1:port2", to=None), "198.51.100.15")
    assert (outcome, line) == ("conditional", EDIT[3]) and "give --to" in why
    # tcp/26 is in SMTP-25-26 (through the group MAIL); tcp/27 is in no service
    assert verdict(read(CONFIG, chain="port1:port2", service="tcp/26"), "192.0.2.1")[0] == "accept"
    rs = read(CONFIG, chain="port1:port2", service="tcp/27")
    assert verdict(rs, "198.51.100.15") == ("drop", END, "")


SERVICES = """\
config firewall address
    edit "a"
        set subnet 192.0.2.0 255.255.255.0
    next
    edit "b"
        set subnet 198.51.100.0 255.255.255.0
    next
    edit "c"
        set subnet 203.0.113.0 255.255.255.0
    next
end
config firewall service custom
    edit "from-clients"
        set tcp-portrange 25:1024-65535
    next
    edit "from-low"
        set tcp-portrange 25:1-1023
    next
    edit "from-some"
        set tcp-portrange 25:1000-2000
    next
end
config firewall policy
    edit 1
        set srcintf "any"
        set dstintf "any"
        set srcaddr "a"
        set dstaddr "all"
        set action accept
        set service "from-clients"
    next
    edit 2
        set srcintf "any"
        set dstintf "any"
        set srcaddr "b"
        set dstaddr "all"
        set action accept
        set service "from-low"
    next
    edit 3
        set srcintf "any"
        set dstintf "any"
        set srcaddr "c"
        set dstaddr "all"
        set action accept
        set service "from-some"
    next
end
"""


def test_source_port_ranges() -> None:
    rs = read(SERVICES)
    assert verdict(rs, "192.0.2.9")[:2] == ("accept", line_of(SERVICES, "edit 1"))
    # no client connects from a port below 1024: the policy never matches one
    assert verdict(rs, "198.51.100.9")[0] == "drop"
    outcome, line, why = verdict(rs, "203.0.113.9")
    assert (outcome, line) == ("conditional", line_of(SERVICES, "edit 3"))
    assert "source port" in why


VDOMS = """\
config vdom
edit root
next
edit mail
next
end
config global
config system interface
    edit "port5"
        set vdom "mail"
    next
end
end
config vdom
edit root
config firewall policy
    edit 1
        set srcintf "port1"
        set dstintf "port2"
        set srcaddr "all"
        set dstaddr "all"
        set action accept
        set service "ALL"
    next
end
next
edit mail
config firewall address
    edit "relays"
        set subnet 192.0.2.0 255.255.255.0
    next
end
config firewall policy
    edit 1
        set srcintf "port5"
        set dstintf "port6"
        set srcaddr "relays"
        set dstaddr "all"
        set action accept
        set service "SMTP"
    next
end
next
end
"""


def test_vdoms_are_chosen_and_named() -> None:
    rs = read(VDOMS, chain="mail/port5:port6")
    outcome, _, _ = verdict(rs, "192.0.2.1")
    seg = rs.verdicts[0].lookup(parse_address("192.0.2.1")[1])
    assert outcome == "accept" and seg is not None and seg.rule.text.startswith("vdom mail: ")
    assert verdict(rs, "8.8.8.8")[0] == "drop"
    # port5 belongs to the mail VDOM (config global, system interface)
    assert verdict(read(VDOMS, chain="port5:port6"), "192.0.2.1")[0] == "accept"
    assert verdict(read(VDOMS, chain="root/port1:port2"), "8.8.8.8")[0] == "accept"
    with pytest.raises(ReaderError) as info:
        read(VDOMS)
    assert "2 VDOMs" in str(info.value)
    assert info.value.hint is not None and "mail/port5:port6" in info.value.hint
    assert "root/port1:port2" in info.value.hint
    with pytest.raises(ReaderError, match="no VDOM 'dmz'"):
        read(VDOMS, chain="dmz/port5:port6")
    with pytest.raises(ReaderError, match="no interface or zone 'port9'") as info:
        read(VDOMS, chain="mail/port9:port6")
    assert info.value.hint is not None and "mail/port5:port6" in info.value.hint


def test_scopes_are_the_address_objects_and_groups() -> None:
    rs = read(CONFIG, chain="port1:port2")
    objects = rs.scope_entries
    held = sorted((e.text, e.origin.line) for e in objects if e.group == "SENDERS")
    relays = line_of(CONFIG, 'edit "relays net"')
    rng = line_of(CONFIG, 'edit "range"')
    # the group's members, less the excluded host, each with its object's line
    assert held == [
        ("192.0.2.0-192.0.2.65", relays),
        ("192.0.2.67-192.0.2.255", relays),
        ("198.51.100.10-198.51.100.20", rng),
    ]
    assert {"SENDERS", "relays net", "partner", "v6-relays", "mx"} <= set(rs.groups)
    assert [e.text for e in objects if e.group == "partner"] == []  # fqdn: nothing known


@pytest.mark.parametrize(
    ("text", "line", "message"),
    [
        pytest.param(
            CONFIG.replace('set srcaddr "partner"', 'set srcaddr "partners"'),
            line_of(CONFIG, 'set srcaddr "partner"'),
            "address 'partners' is not defined",
            id="undefined-address",
        ),
        pytest.param(
            CONFIG.replace('set member "range"', 'set member "range" "SENDERS"'),
            line_of(CONFIG, 'edit "SENDERS"'),
            "address groups contain each other: SENDERS -> inner -> SENDERS",
            id="group-cycle",
        ),
        pytest.param(
            CONFIG.replace('set service "MAIL"', 'set service "SMTPX"'),
            line_of(CONFIG, 'set service "MAIL"'),
            "service 'SMTPX' is not defined",
            id="undefined-service",
        ),
        pytest.param(
            CONFIG.replace("255.192.0.0", "255.0.255.0"),
            line_of(CONFIG, "255.192.0.0"),
            "not contiguous",
            id="mask",
        ),
        pytest.param(
            CONFIG.rsplit("end", 1)[0],
            line_of(CONFIG, "config firewall policy"),
            "config firewall policy is not closed",
            id="cut-short",
        ),
        pytest.param(
            CONFIG.replace("    edit 6\n", "    edit 6\n        sett action deny\n"),
            EDIT[6] + 1,
            "unknown command 'sett'",
            id="unknown-command",
        ),
    ],
)
def test_errors_name_the_line(text: str, line: int, message: str) -> None:
    with pytest.raises(ReaderError) as info:
        read(text, chain="port1:port2")
    assert info.value.line == line
    assert message in str(info.value)
    assert info.value.hint


def test_a_bad_chain_lists_the_choices() -> None:
    with pytest.raises(ReaderError) as info:
        read(CONFIG, chain="port1")
    assert info.value.hint is not None
    assert "port1:port2" in info.value.hint and "port1:dmz-zone" in info.value.hint


def test_detected_by_content_and_through_the_cli(run_cli: RunCli, write: WriteFile) -> None:
    assert detect_format("backup.conf", CONFIG.encode()) == "fortios"
    write("fgt.conf", CONFIG)
    write("exp.txt", "192.0.2.0/26\n198.51.100.10\n")
    args = ["--chain", "port1:port2", "--to", "203.0.113.25"]
    # the fqdn policy leaves addresses open: partial, exit 2, naming it
    code, out, err = run_cli("diff", "-e", "exp.txt", "-d", "fgt.conf", *args)
    assert code == 2 and "address partner is a DNS name (type fqdn)" in out
    # port1 to port3 without policy 8's user group: every address is decided
    write("plain.conf", CONFIG.replace('        set groups "mail-admins"\n', ""))
    code, out, err = run_cli("diff", "-e", "exp.txt", "-d", "plain.conf", "--chain", "port1:port3")
    assert code == 0, (out, err)
    write("more.txt", "192.0.2.0/26\n8.8.8.8\n")
    code, out, err = run_cli("diff", "-e", "more.txt", "-d", "plain.conf", "--chain", "port1:port3")
    assert code == 1 and "8.8.8.8" in out
    code, out, err = run_cli("explain", "100.64.0.9", "-d", "fgt.conf", *args)
    assert code == 1
    assert f"denied: fgt.conf:{EDIT[9]}: policy 9" in out
    assert '"block-cgnat"' in out
    write("bad.conf", CONFIG.replace('set srcaddr "partner"', 'set srcaddr "nope"'))
    code, out, err = run_cli("diff", "-e", "exp.txt", "-d", "bad.conf", *args)
    assert code == 2
    bad_line = line_of(CONFIG, 'set srcaddr "partner"')
    assert f"bad.conf:{bad_line}:" in err
    assert "'nope' is not defined" in err
    # the alias
    code, _, err = run_cli(
        "diff", "-e", "exp.txt", "-d", "file+fortigate:plain.conf", "--chain", "port1:port3"
    )
    assert code == 0, err


CORPUS = Path(__file__).resolve().parents[3].parent / "shared" / "corpus" / "firewall"


def _corpus_files() -> list[Path]:
    return sorted(CORPUS.glob("fortigate_*")) if CORPUS.is_dir() else []


@pytest.mark.skipif(not _corpus_files(), reason="the shared corpus is not present")
def test_the_corpus() -> None:
    """Every FortiGate file of the corpus, for tcp/25: whether it is complete, its warnings,
    what is conditional, and the address objects whose addresses the file does not hold (fqdn,
    geography, dynamic, wildcard ...). The batfish rename files use undefined names on
    purpose: an error naming the line."""
    found: dict[str, object] = {}
    for path in _corpus_files():
        ctx = ReadContext(path.name, "declared", service=Service.parse("tcp/25"))
        try:
            rs = reader_for("fortios").parse(path.read_bytes(), ctx)
        except ReaderError as e:
            found[path.name] = ("error", e.line, e.message)
            continue
        warnings = [(f.kind, f.origin.line if f.origin else None) for f in rs.findings
                    if f.severity.value == "warning"]  # fmt: skip
        held = {e.group for e in rs.scope_entries}
        unknown = [g for g in rs.groups if g not in held]
        reasons = [r.split(": ", 2)[1] for r in rs.reasons]  # the rule's file:line
        found[path.name] = (rs.completeness.value, warnings, reasons, unknown)
    complete: tuple[object, ...] = ("complete", [], [], [])
    assert found == {
        "fortigate_aerleon_testMixedAddresses.conf": complete,
        "fortigate_aerleon_testMultipleTerms.conf": complete,
        "fortigate_aerleon_testSourceExcludesMixed.conf": complete,
        "fortigate_batfish_access_list.conf": complete,
        "fortigate_batfish_address.conf": (
            "complete",
            [],
            [],
            [
                "dynamic",
                "fqdn",
                "geography",
                "interface-subnet",
                "mac",
                "undefined-refs",
                "wildcard",
                "wildcard-default",
            ],
        ),  # fmt: skip
        "fortigate_batfish_address_type_switching.conf": (
            "complete",
            [("invalid-object", 52)],  # end-ip below start-ip, in no policy
            [],
            ["mask-to-wildcard", "range-to-wildcard", "wildcard-to-invalid-range"],
        ),
        "fortigate_batfish_addrgrp.conf": complete,
        "fortigate_batfish_addrgrp_rename.conf": (
            "error",
            42,
            "address 'old_group1' is not defined (config firewall address or addrgrp)",
        ),
        "fortigate_batfish_firewall_policy.conf": complete,
        "fortigate_batfish_firewall_policy_addrgrp.conf": complete,
        "fortigate_batfish_fortios_ignored.conf": complete,
        # four interfaces, no --chain: the policies bound to them are conditional
        "fortigate_batfish_policy.conf": ("partial", [], ["fortigate_batfish_policy.conf:60"], []),
        "fortigate_batfish_rename.conf": (
            "error",
            64,
            "address 'old_addr1' is not defined (config firewall address or addrgrp)",
        ),
        "fortigate_batfish_service_custom.conf": complete,
    }
    # with the pair chosen, the policy file is decided: policy 2 accepts every TCP port
    path = CORPUS / "fortigate_batfish_policy.conf"
    ctx = ReadContext(path.name, "declared", service=Service.parse("tcp/25"), chain="port1:port3")
    rs = reader_for("fortios").parse(path.read_bytes(), ctx)
    assert rs.completeness.value == "complete"
    assert verdict(rs, "192.0.2.1")[:2] == ("accept", 60)

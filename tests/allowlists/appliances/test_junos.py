"""JunOS configurations: firewall filters and SRX security policies, brace and set form.

The allowed and denied sets below are worked out from Juniper's documentation:
- "Specifying Address Filter Match Conditions" (Junos policy framework configuration guide,
  juniper.net/techpubs/software/junos/junos82/swconfig82-policy/html/firewall-config12.html):
  prefixes of one condition are alternatives, overlapping ones decided by longest match, an
  ``except`` prefix does not match, an implicit ``0/0 except`` ends every list;
- "How to Specify Firewall Filter Match Conditions" (juniper.net/techpubs/en_US/junos/topics/
  concept/policy-firewall-filter-how-to-specify-match-conditions.html): ``smtp`` is port 25,
  values in ``[ ]`` are alternatives;
- "Firewall Filter Match Conditions and Actions" (juniper.net/documentation/us/en/software/
  junos21.2/routing-policy/topics/topic-map/firewall-filter-match-conditions-and-actions-
  ptx.html): a term without match conditions matches every packet, a match without a
  terminating action is accepted, filters of an ``input-list`` are applied in order;
- "Security Policies Overview" (SRX): a zone pair's policies in order, then global policies,
  then the default policy, deny-all unless permit-all is configured.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from conftest import RunCli, WriteFile

from auditor import ipspace
from auditor.allowlists import ReadContext, ReaderError, reader_for
from auditor.model import Completeness, RangeSet
from auditor.service import Service
from auditor.sources.files import detect_format

BRACE = """\
## Last commit: 2024-05-01 10:00:00 UTC by admin
version 21.2R3;
firewall {
    family inet {
        filter MAIL-IN {
            term block-bad {
                from {
                    source-address {
                        198.51.100.0/24;
                        198.51.100.128/25 except;
                    }
                }
                then discard;
            }
            term count-all {
                then {
                    count all;
                    next term;
                }
            }
            term smtp {
                from {
                    source-prefix-list RELAYS;
                    protocol tcp;
                    destination-port [ smtp 587 ];
                }
                then accept;
            }
            inactive: term old {
                from {
                    source-address 203.0.113.0/24;
                }
                then accept;
            }
        }
    }
    family inet6 {
        filter MAIL6 {
            term smtp {
                from {
                    source-address {
                        2001:db8::/32;
                    }
                    next-header tcp;
                    destination-port 25;
                }
                then accept;
            }
        }
    }
}
policy-options {
    /* the relays */
    prefix-list RELAYS {
        192.0.2.0/24;
        198.51.100.0/24;
    }
}
interfaces {
    ge-0/0/0 {
        unit 0 {
            family inet {
                filter {
                    input MAIL-IN;
                }
                address 203.0.113.1/24;
            }
            family inet6 {
                filter {
                    input MAIL6;
                }
            }
        }
    }
}
"""

SET = """\
set version 21.2R3
set firewall family inet filter MAIL-IN term block-bad from source-address 198.51.100.0/24
set firewall family inet filter MAIL-IN term block-bad from source-address 198.51.100.128/25 except
set firewall family inet filter MAIL-IN term block-bad then discard
set firewall family inet filter MAIL-IN term count-all then count all
set firewall family inet filter MAIL-IN term count-all then next term
set firewall family inet filter MAIL-IN term smtp from source-prefix-list RELAYS
set firewall family inet filter MAIL-IN term smtp from protocol tcp
set firewall family inet filter MAIL-IN term smtp from destination-port smtp
set firewall family inet filter MAIL-IN term smtp from destination-port 587
set firewall family inet filter MAIL-IN term smtp then accept
set firewall family inet filter MAIL-IN term old from source-address 203.0.113.0/24
set firewall family inet filter MAIL-IN term old then accept
deactivate firewall family inet filter MAIL-IN term old
set firewall family inet6 filter MAIL6 term smtp from source-address 2001:db8::/32
set firewall family inet6 filter MAIL6 term smtp from next-header tcp
set firewall family inet6 filter MAIL6 term smtp from destination-port 25
set firewall family inet6 filter MAIL6 term smtp then accept
set policy-options prefix-list RELAYS 192.0.2.0/24
set policy-options prefix-list RELAYS 198.51.100.0/24
set interfaces ge-0/0/0 unit 0 family inet filter input MAIL-IN
set interfaces ge-0/0/0 unit 0 family inet address 203.0.113.1/24
set interfaces ge-0/0/0 unit 0 family inet6 filter input MAIL6
"""


def read(
    text: str,
    service: str | None = None,
    chain: str | None = None,
    to: str | None = None,
    name: str = "junos.conf",
) -> RangeSet:
    ctx = ReadContext(
        name,
        "declared",
        service=Service.parse(service) if service else None,
        chain=chain,
        to=to,
    )
    return reader_for("junos").parse(text.encode(), ctx)


def verdict(rs: RangeSet, address: str) -> tuple[str, str]:
    """(outcome, deciding rule with its line) for one address."""
    fam, value, _ = ipspace.parse_address(address)
    for v in rs.verdicts:
        if v.family == fam:
            seg = v.lookup(value)
            assert seg is not None
            why = f" [{seg.rule.why}]" if seg.rule.why else ""
            return seg.outcome, f"{seg.rule.origin.line}: {seg.rule.text}{why}"
    raise AssertionError(f"family {fam} not covered")


def outcome(rs: RangeSet, address: str) -> str:
    return verdict(rs, address)[0]


# --- firewall filters ----------------------------------------------------------------------


def test_filter_terms_in_order_with_except_and_the_implicit_discard() -> None:
    rs = read(BRACE)
    assert rs.info.format == "junos"
    assert outcome(rs, "192.0.2.7") == "accept"
    got, rule = verdict(rs, "198.51.100.5")  # block-bad: 198.51.100.0/24 matches
    assert (got, rule.split(":")[0]) == ("drop", "6")
    assert "term block-bad" in rule
    # 198.51.100.128/25 is the longest match and is an exception: on to the smtp term
    assert verdict(rs, "198.51.100.200")[0] == "accept"
    assert "term smtp" in verdict(rs, "198.51.100.200")[1]
    # the inactive term is skipped: the implicit discard at the end of the filter decides
    got, rule = verdict(rs, "203.0.113.9")
    assert got == "drop" and "implicit discard" in rule and rule.startswith("5: filter MAIL-IN")
    assert outcome(rs, "2001:db8::1") == "accept"
    assert outcome(rs, "2001:db9::1") == "drop"
    assert rs.completeness is Completeness.COMPLETE
    assert [f.message for f in rs.findings if f.kind == "inactive"] == [
        "2 inactive or deactivated statement(s) skipped"
    ]
    # destination-port [ smtp 587 ]: 587 is let in, 22 is not
    assert outcome(read(BRACE, "tcp/587"), "192.0.2.7") == "accept"
    assert outcome(read(BRACE, "tcp/22"), "192.0.2.7") == "drop"
    assert outcome(read(BRACE, "udp/25"), "192.0.2.7") == "drop"


@pytest.mark.parametrize("service", ["tcp/25", "tcp/22", "tcp/25,587", "any", "udp/25"])
def test_the_set_form_and_the_brace_form_give_identical_verdicts(service: str) -> None:
    brace, flat = read(BRACE, service), read(SET, service)
    assert brace.verdicts and len(brace.verdicts) == len(flat.verdicts) == 2

    def shape(rs: RangeSet) -> list[tuple[int, int, int, str, str]]:
        return [
            (v.family, s.first, s.last, s.outcome, s.rule.text)
            for v in rs.verdicts
            for s in v.segments
        ]

    assert shape(brace) == shape(flat)
    assert brace.space == flat.space


def test_a_term_without_a_terminating_action_accepts_and_next_term_goes_on() -> None:
    text = (
        "set firewall filter F term a from source-address 192.0.2.0/24\n"
        "set firewall filter F term a then count hits\n"
        "set firewall filter F term b from source-address 198.51.100.0/24\n"
        "set firewall filter F term b then next term\n"
        "set firewall filter F term c then reject\n"
    )
    rs = read(text)  # the only filter: the default choice; `firewall filter` is family inet
    assert [v.family for v in rs.verdicts] == [4]
    assert verdict(rs, "192.0.2.1") == ("accept", "1: filter F term a: from source-address"
                                        " 192.0.2.0/24; then count hits")  # fmt: skip
    assert verdict(rs, "198.51.100.1")[1].startswith("5: filter F term c")
    assert outcome(rs, "198.51.100.1") == "drop"


def test_an_input_list_goes_on_to_the_next_filter_and_discards_after_the_last() -> None:
    text = (
        "set firewall family inet filter A term deny from source-address 192.0.2.0/25\n"
        "set firewall family inet filter A term deny then discard\n"
        "set firewall family inet filter B term mail from source-address 192.0.2.0/24\n"
        "set firewall family inet filter B term mail from protocol tcp\n"
        "set firewall family inet filter B term mail then accept\n"
        "set interfaces xe-0/0/1 unit 5 family inet filter input-list [ A B ]\n"
    )
    rs = read(text, chain="xe-0/0/1.5")
    assert outcome(rs, "192.0.2.1") == "drop"
    assert verdict(rs, "192.0.2.200") == (
        "accept",
        "3: filter B term mail: from source-address 192.0.2.0/24; from protocol tcp; then accept",
    )
    got, rule = verdict(rs, "203.0.113.1")
    assert got == "drop" and rule == "3: filter B: implicit discard at the end of the filter"
    assert rs.info.detail == "interface xe-0/0/1.5"


def test_destination_address_needs_to_and_port_except() -> None:
    text = (
        "set firewall filter F term mx from destination-address 10.0.0.25/32\n"
        "set firewall filter F term mx from destination-port-except 22\n"
        "set firewall filter F term mx then accept\n"
    )
    rs = read(text)
    got, rule = verdict(rs, "192.0.2.1")
    assert got == "conditional" and "10.0.0.25/32 (give --to)" in rule
    assert rs.completeness is Completeness.PARTIAL
    assert outcome(read(text, to="10.0.0.25"), "192.0.2.1") == "accept"
    assert outcome(read(text, to="10.0.0.26"), "192.0.2.1") == "drop"
    assert outcome(read(text, "tcp/22", to="10.0.0.25"), "192.0.2.1") == "drop"


def test_conditional_match_conditions_and_actions_are_named() -> None:
    text = (
        'set policy-options prefix-list LOCAL apply-path "interfaces <*> unit <*> family inet'
        ' address <*>"\n'
        "set firewall filter F term ifc from interface ge-0/0/1.0\n"
        "set firewall filter F term ifc then discard\n"
        "set firewall filter F term local from source-prefix-list LOCAL\n"
        "set firewall filter F term local then accept\n"
        "set firewall filter F term mask from source-address 10.0.0.1/255.0.255.0\n"
        "set firewall filter F term mask then accept\n"
        "set firewall filter F term vrf from source-address 172.16.0.0/12\n"
        "set firewall filter F term vrf then routing-instance OTHER\n"
    )
    rs = read(text)
    got, rule = verdict(rs, "192.0.2.1")
    assert got == "conditional" and "from interface ge-0/0/1.0" in rule
    assert any("routing-instance OTHER" in u.message for u in rs.findings)
    # with the interface term gone, the apply-path list and the gapped mask are named
    rs = read(text.replace("term ifc then discard", "term ifc then next term"))
    got, rule = verdict(rs, "192.0.2.1")
    assert got == "conditional" and "apply-path" in rule
    assert outcome(rs, "172.16.0.1") == "conditional"
    mask = "\n".join(line for line in text.splitlines() if "term mask" in line) + "\n"
    got, rule = verdict(read(mask), "192.0.2.1")
    assert got == "conditional" and "10.0.0.1/255.0.255.0 (a mask that is not a prefix)" in rule
    contiguous = mask.replace("255.0.255.0", "255.255.0.0")
    assert outcome(read(contiguous), "10.0.3.3") == "accept"
    assert outcome(read(contiguous), "10.1.0.0") == "drop"


# --- security policies ---------------------------------------------------------------------

SRX = """\
security {
    address-book {
        global {
            address relay-a 192.0.2.0/25;
            address relay-b {
                range-address 198.51.100.10 to 198.51.100.20;
            }
            address cloud {
                dns-name relays.example.net;
            }
            address mx 10.0.0.25/32;
            address-set RELAYS {
                address relay-a;
                address-set MORE;
            }
            address-set MORE {
                address relay-b;
            }
        }
    }
    zones {
        security-zone untrust {
            interfaces {
                ge-0/0/0.0;
            }
        }
        security-zone trust {
            address-book {
                address blocked 192.0.2.0/28;
            }
            interfaces {
                ge-0/0/1.0;
            }
        }
    }
    policies {
        from-zone untrust to-zone trust {
            policy no-ssh {
                match {
                    source-address any;
                    destination-address any;
                    application junos-ssh;
                }
                then {
                    deny;
                }
            }
            policy mail {
                match {
                    source-address RELAYS;
                    destination-address mx;
                    application [ junos-smtp mail-submission ];
                }
                then {
                    permit;
                    log {
                        session-init;
                    }
                }
            }
            policy cloud {
                match {
                    source-address cloud;
                    destination-address any;
                    application smtp-set;
                }
                then permit;
            }
        }
        global {
            policy late {
                match {
                    source-address any;
                    destination-address any;
                    application any;
                    from-zone untrust;
                }
                then deny;
            }
        }
    }
}
applications {
    application mail-submission protocol tcp destination-port 587;
    application smtp-25 {
        term t1 protocol tcp destination-port smtp;
    }
    application-set smtp-set {
        application smtp-25;
    }
}
"""


def test_security_policies_zone_pair_address_sets_and_applications() -> None:
    rs = read(SRX, to="10.0.0.25")
    assert rs.info.detail == "zones untrust:trust"  # the only zone pair
    assert verdict(rs, "192.0.2.1")[0] == "accept"
    assert "policy mail" in verdict(rs, "192.0.2.1")[1]
    assert outcome(rs, "198.51.100.15") == "accept"  # range-address, in a nested set
    assert outcome(rs, "198.51.100.21") == "conditional"  # cloud: dns-name
    assert "dns-name relays.example.net" in verdict(rs, "198.51.100.21")[1]
    assert outcome(read(SRX, "tcp/587", to="10.0.0.25"), "192.0.2.1") == "accept"
    assert outcome(read(SRX, "tcp/22", to="10.0.0.25"), "192.0.2.1") == "drop"
    # the global policy comes after the zone pair's
    assert "global policy late" in verdict(read(SRX, "tcp/443", to="10.0.0.25"), "192.0.2.1")[1]
    # another destination: mail does not match, the dns-name policy may
    assert outcome(read(SRX, to="10.0.0.26"), "192.0.2.1") == "conditional"
    without_to = read(SRX)
    assert "destination-address mx (give --to)" in verdict(without_to, "192.0.2.1")[1]


def test_default_policy_and_zone_choice() -> None:
    text = (
        "set security zones security-zone a\nset security zones security-zone b\n"
        "set security policies from-zone a to-zone b policy p match source-address any\n"
        "set security policies from-zone a to-zone b policy p match destination-address any\n"
        "set security policies from-zone a to-zone b policy p match application junos-http\n"
        "set security policies from-zone a to-zone b policy p then permit\n"
        "set security policies from-zone b to-zone a policy q match source-address any\n"
        "set security policies from-zone b to-zone a policy q match destination-address any\n"
        "set security policies from-zone b to-zone a policy q match application any\n"
        "set security policies from-zone b to-zone a policy q then permit\n"
    )
    with pytest.raises(ReaderError) as info:
        read(text)
    assert "--chain: a:b, b:a" in str(info.value)
    got, rule = verdict(read(text, chain="a:b"), "192.0.2.1")
    assert got == "drop" and "default-policy deny-all" in rule
    permit = text + "set security policies default-policy permit-all\n"
    assert verdict(read(permit, chain="a:b"), "192.0.2.1") == (
        "accept",
        "11: default-policy permit-all",
    )
    assert outcome(read(text, chain="b:a"), "2001:db8::1") == "accept"
    with pytest.raises(ReaderError, match="no security policies from-zone a to-zone c"):
        read(text, chain="a:c")


def test_an_excluded_source_the_device_resolves_leaves_every_other_source_conditional() -> None:
    # "match (Security Policies Global)" (juniper.net/documentation/us/en/software/junos/
    # cli-reference/topics/ref/statement/match-edit-security-policies-global.html):
    # source-address-excluded excludes the listed source addresses from the match. A dns-name
    # member may stand for any address, so no other source is surely matched (or refused).
    text = (
        "set security zones security-zone u\nset security zones security-zone t\n"
        "set security address-book global address cloud dns-name relays.example.net\n"
        "set security address-book global address net10 10.0.0.0/8\n"
        "set security address-book global address-set S address cloud\n"
        "set security address-book global address-set S address net10\n"
        "set security policies from-zone u to-zone t policy p match source-address S\n"
        "set security policies from-zone u to-zone t policy p match source-address-excluded\n"
        "set security policies from-zone u to-zone t policy p match destination-address any\n"
        "set security policies from-zone u to-zone t policy p match application any\n"
        "set security policies from-zone u to-zone t policy p then permit\n"
    )
    rs = read(text)
    got, rule = verdict(rs, "192.0.2.1")
    assert got == "conditional" and "dns-name relays.example.net" in rule
    # 10/8 is surely excluded: the default policy decides
    got, rule = verdict(rs, "10.1.1.1")
    assert got == "drop" and "default-policy deny-all" in rule
    known = text.replace("address-set S address cloud", "address-set S address net10")
    assert outcome(read(known), "192.0.2.1") == "accept"
    assert outcome(read(known), "10.1.1.1") == "drop"


def test_traffic_to_the_device_itself_also_meets_host_inbound_traffic() -> None:
    # "Difference between junos-host zone and a security zone" (networkengineering.
    # stackexchange.com/questions/54881): without a policy to-zone junos-host, the zone's
    # host-inbound-traffic decides; with one, both must let the connection in. Neither is read
    # here: a permit is conditional, and so is the end without such a policy.
    text = (
        "set security zones security-zone u\n"
        "set security policies from-zone u to-zone junos-host policy p match source-address any\n"
        "set security policies from-zone u to-zone junos-host policy p match "
        "destination-address any\n"
        "set security policies from-zone u to-zone junos-host policy p match application "
        "junos-smtp\n"
        "set security policies from-zone u to-zone junos-host policy p then permit\n"
    )
    got, rule = verdict(read(text), "192.0.2.1")
    assert got == "conditional" and "host-inbound-traffic" in rule
    assert outcome(read(text, "tcp/22"), "192.0.2.1") == "drop"  # the policies decide
    glob = (
        "set security zones security-zone u\n"
        "set security policies global policy g match source-address any\n"
        "set security policies global policy g match destination-address any\n"
        "set security policies global policy g match application any\n"
        "set security policies global policy g then deny\n"
    )
    got, rule = verdict(read(glob, chain="u:junos-host"), "192.0.2.1")
    assert got == "drop" and "global policy g" in rule
    none = glob.replace("then deny", "then permit").replace(
        "application any", "application junos-ssh"
    )
    got, rule = verdict(read(none, chain="u:junos-host"), "192.0.2.1")
    assert got == "conditional" and "host-inbound-traffic" in rule


def test_chain_names_an_interface_a_filter_or_errs_with_the_choices() -> None:
    two = BRACE.replace(
        "filter MAIL6 {", "filter OTHER { term x { then accept; } }\n filter MAIL6 {"
    )
    assert read(BRACE, chain="ge-0/0/0").info.detail == "interface ge-0/0/0.0"
    rs = read(two, chain="OTHER")
    assert [v.family for v in rs.verdicts] == [6] and outcome(rs, "2001:db9::1") == "accept"
    with pytest.raises(ReaderError) as info:
        read(two, chain="ge-9/9/9.0")
    assert "ge-0/0/0.0, MAIL-IN, OTHER, MAIL6" in (info.value.hint or "")


# --- errors --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "line", "message"),
    [
        (
            "set firewall filter F term t from source-prefix-list NOPE\n"
            "set firewall filter F term t then accept\n",
            1,
            "prefix-list NOPE is not defined",
        ),
        (
            "set security address-book global address-set A address-set B\n"
            "set security address-book global address-set B address-set A\n"
            "set security policies from-zone u to-zone t policy p match source-address A\n"
            "set security policies from-zone u to-zone t policy p then permit\n",
            2,
            "address-set A contains itself: A -> B -> A",
        ),
        ("firewall {\n  filter F {\n    term t { then accept; }\n", 2, "is not closed"),
        ("firewall {\n  filter F {\n    term t then accept\n  }\n}\n", 3, "is not ended with ';'"),
        ("set firewall filter F term t then accept\nshow firewall\n", 2, "not a configuration"),
        (
            "set interfaces ge-0/0/0 unit 0 family inet filter input MISSING\n",
            1,
            "filter MISSING (family inet) is not defined",
        ),
    ],
)
def test_errors_name_the_line_and_what_to_do(text: str, line: int, message: str) -> None:
    with pytest.raises(ReaderError) as info:
        read(text)
    assert message in str(info.value)
    assert info.value.line == line
    assert info.value.hint


def test_cli_exit_code_2_with_file_and_line(run_cli: RunCli, write: WriteFile) -> None:
    write("nodes.txt", "192.0.2.0/24\n")
    write("fw.conf", "set firewall filter F term t from source-prefix-list NOPE\n")
    code, _, err = run_cli("diff", "-e", "nodes.txt", "-d", "fw.conf")
    assert code == 2
    assert "fw.conf:1: prefix-list NOPE is not defined" in err


def test_groups_that_may_add_terms_are_refused() -> None:
    text = SET + (
        "set groups extra firewall family inet filter MAIL-IN term all then accept\n"
        "set apply-groups extra\n"
    )
    with pytest.raises(ReaderError, match="display inheritance"):
        read(text)
    harmless = SET + "set groups g1 system host-name x\nset apply-groups g1\n"
    assert outcome(read(harmless), "192.0.2.1") == "accept"


# --- detection, scopes, explain ------------------------------------------------------------


def test_both_forms_are_detected_and_the_alias_works(tmp_path: Path) -> None:
    assert detect_format("fw.conf", BRACE.encode()) == "junos"
    assert detect_format("fw.txt", SET.encode()) == "junos"
    assert detect_format("-", b"security {\n policies {\n}\n}\n") == "junos"
    assert reader_for("juniper").name == "junos"


def test_prefix_lists_and_address_book_entries_are_scopes() -> None:
    rs = read(BRACE)
    assert "RELAYS" in rs.groups
    assert rs.scope("RELAYS") == ipspace.IPSpace.from_text(["192.0.2.0/24", "198.51.100.0/24"])
    srx = read(SRX, to="10.0.0.25")
    assert {"relay-a", "RELAYS", "MORE", "cloud", "blocked"} <= set(srx.groups)
    assert srx.scope("RELAYS") == ipspace.IPSpace.from_text(
        ["192.0.2.0/25", "198.51.100.10-198.51.100.20"]
    )


def test_explain_names_the_deciding_term_with_its_line(run_cli: RunCli, write: WriteFile) -> None:
    write("edge.conf", SET)
    code, out, _ = run_cli("explain", "198.51.100.5", "-d", "edge.conf", "--service", "tcp/25")
    assert "edge.conf: denied: edge.conf:2: filter MAIL-IN term block-bad" in out, out
    code, out, _ = run_cli("explain", "192.0.2.9", "-d", "edge.conf")
    assert "edge.conf: allowed: edge.conf:7: filter MAIL-IN term smtp" in out, out

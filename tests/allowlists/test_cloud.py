"""Cloud firewalls: AWS security groups (allow-only union, prefix lists, group pairs), AWS
network ACLs (rule-number order), Azure NSGs (priority, service tags, defaults) and Google
Cloud firewall rules (priority, deny before allow, tags, disabled rules)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from auditor import ipspace
from auditor.allowlists import READERS, ReadContext, ReaderError, reader_for
from auditor.allowlists.cloud.aws_prefix_list import prefix_lists
from auditor.model import Completeness, RangeSet
from auditor.service import Service
from auditor.sources.files import detect_format

from .helpers import of_kind, space

FIXTURES = Path(__file__).parent.parent / "fixtures" / "cloud"
WriteFile = Callable[[str, "str | bytes"], Path]
RunCli = Callable[..., tuple[int, str, str]]
CORPUS = Path(__file__).resolve().parents[2].parent / "shared" / "corpus" / "firewall"


def read(
    fmt: str,
    name: str,
    service: str | None = None,
    chain: str | None = None,
    sets: dict[str, list[tuple[int, int, int]]] | None = None,
) -> RangeSet:
    path = FIXTURES / name
    ctx = ReadContext(
        str(path),
        "declared",
        service=Service.parse(service) if service else None,
        chain=chain,
        sets=sets or {},
    )
    return reader_for(fmt).parse(path.read_bytes(), ctx)


def verdict(rs: RangeSet, address: str) -> tuple[str, str]:
    """(outcome, deciding rule's text) for one address."""
    fam, value, _ = ipspace.parse_address(address)
    for v in rs.verdicts:
        if v.family == fam:
            seg = v.lookup(value)
            assert seg is not None
            return seg.outcome, seg.rule.text
    raise AssertionError(f"family {fam} not covered")


# --- AWS security groups -------------------------------------------------------------------------


def test_security_groups_are_a_union_of_allow_rules() -> None:
    rs = read("aws-security-group", "sg.json")
    assert rs.completeness is Completeness.COMPLETE
    assert rs.space == space("203.0.113.0/24", "2001:db8:25::/48", "192.0.2.10", "192.0.2.64/26")
    outcome, text = verdict(rs, "203.0.113.7")
    assert outcome == "accept"
    assert text == "sg-0a1 (mail) tcp 25 from 203.0.113.0/24 'relay'"
    assert verdict(rs, "8.8.8.8")[0] == "drop"
    assert verdict(rs, "2001:db8:26::1")[0] == "drop"
    origins = {e.origin.path for e in rs.entries}
    assert "SecurityGroups[0].IpPermissions[0].IpRanges[0]: " + text in origins


@pytest.mark.parametrize(
    ("service", "allowed"),
    [
        ("tcp/587", ("198.51.100.0/24", "192.0.2.10")),  # "6" is tcp; -1 is every port
        ("tcp/25,587", ("192.0.2.10",)),  # every port must be allowed
        ("udp/25", ("192.0.2.128/25", "192.0.2.10")),
        ("tcp/22-26", ("192.0.2.10", "192.0.2.64/26")),  # 20-30 holds the whole range
        ("any", ("192.0.2.10",)),
    ],
)
def test_security_group_ports_and_protocols(service: str, allowed: tuple[str, ...]) -> None:
    assert read("aws-security-group", "sg.json", service).space == space(*allowed)


def test_security_groups_are_scopes_and_chain_picks_the_instance_groups() -> None:
    rs = read("aws-security-group", "sg.json")
    assert rs.groups == ("sg-0a1", "sg-0b2")
    assert rs.scope("sg-0b2") == space("192.0.2.10", "192.0.2.64/26")
    only_admin = read("aws-security-group", "sg.json", chain="admin")
    assert only_admin.space == space("192.0.2.10", "192.0.2.64/26")
    with pytest.raises(ReaderError, match="no security group 'sg-nope'"):
        read("aws-security-group", "sg.json", chain="sg-nope")


def test_prefix_list_unresolved_is_conditional() -> None:
    rs = read("aws-security-group", "sg-prefix.json")
    assert rs.completeness is Completeness.PARTIAL
    assert verdict(rs, "100.64.1.1")[0] == "conditional"
    assert "pl-0d4" in rs.reasons[0]
    assert of_kind(rs, "unsupported")


def test_prefix_list_resolved_from_its_export() -> None:
    sets = prefix_lists((FIXTURES / "prefix-lists.json").read_bytes(), "prefix-lists.json")
    rs = read("aws-security-group", "sg-prefix.json", sets=sets)
    assert rs.completeness is Completeness.COMPLETE
    assert rs.space == space("100.64.1.0/24", "2001:db8:64::/48")
    assert verdict(rs, "100.64.2.1")[0] == "drop"


def test_user_id_group_pairs_are_conditional_but_ranges_still_count() -> None:
    rs = read("aws-security-group", "sg-pairs.json")
    assert rs.completeness is Completeness.PARTIAL
    assert verdict(rs, "203.0.113.1")[0] == "accept"
    outcome, _ = verdict(rs, "8.8.8.8")
    assert outcome == "conditional"
    assert "sg-0f6" in rs.reasons[0]
    assert rs.space == space("203.0.113.0/24")


# --- AWS network ACLs ----------------------------------------------------------------------------


def test_network_acl_rule_number_order_deny_before_allow() -> None:
    rs = read("aws-network-acl", "nacl.json", chain="acl-01")
    assert rs.completeness is Completeness.COMPLETE
    assert verdict(rs, "203.0.113.200") == (
        "drop",
        "acl-01 rule 90 deny tcp 25 from 203.0.113.128/25",
    )
    assert verdict(rs, "203.0.113.1") == (
        "accept",
        "acl-01 rule 110 allow tcp 25 from 203.0.113.0/24",
    )
    assert verdict(rs, "198.51.100.1")[0] == "drop"  # udp only
    assert verdict(rs, "2001:db8::1")[0] == "accept"
    assert verdict(rs, "2001:db9::1") == ("drop", "acl-01 rule * deny all traffic from ::/0")
    assert rs.space == space("203.0.113.0/25", "2001:db8::/32")
    # the subnet id chooses the same ACL
    assert read("aws-network-acl", "nacl.json", chain="subnet-01").space == rs.space


def test_several_network_acls_decide_only_where_they_agree() -> None:
    rs = read("aws-network-acl", "nacl.json")
    assert rs.completeness is Completeness.PARTIAL
    assert verdict(rs, "203.0.113.1")[0] == "accept"  # both allow
    outcome, _ = verdict(rs, "8.8.8.8")
    assert outcome == "conditional"
    assert "--chain" in rs.reasons[0]


# --- Azure NSGs ----------------------------------------------------------------------------------


def test_nsg_priority_deny_shadows_a_later_allow() -> None:
    rs = read("azure-nsg", "nsg.json")
    assert verdict(rs, "203.0.113.200")[0] == "drop"
    assert "DenyBadHalf priority 100" in verdict(rs, "203.0.113.200")[1]
    assert verdict(rs, "203.0.113.1") == (
        "accept",
        "mail-nsg AllowMail priority 200 Allow tcp 25,587 from 203.0.113.0/24, 2001:db8:25::/48",
    )
    # the implied AllowAzureLoadBalancerInBound (65001) admits the host's 168.63.129.16
    # whether or not AzureCloud (300) holds it
    assert rs.space == space("203.0.113.0/25", "2001:db8:25::/48", "168.63.129.16")


def test_nsg_service_tag_is_conditional() -> None:
    rs = read("azure-nsg", "nsg.json")
    assert rs.completeness is Completeness.PARTIAL
    outcome, text = verdict(rs, "8.8.8.8")
    assert outcome == "conditional"
    assert "AllowAzureCloud" in text
    assert "AzureCloud" in rs.reasons[0]


def test_nsg_star_source_and_implied_default_rules() -> None:
    rs = read("azure-nsg", "nsg.json", "tcp/443")
    assert rs.completeness is Completeness.COMPLETE
    assert rs.space == space("0.0.0.0/0", "::/0")
    # port 8080: no rule of the export; the implied AllowVNetInBound makes it conditional,
    # AllowAzureLoadBalancerInBound is the host's 168.63.129.16
    other = read("azure-nsg", "nsg.json", "tcp/8080")
    assert verdict(other, "168.63.129.16")[0] == "accept"
    assert "AllowVNetInBound" in verdict(other, "8.8.8.8")[1]


def test_nsg_az_cli_list() -> None:
    rs = read("azure-nsg", "nsg-cli.json")
    assert rs.completeness is Completeness.COMPLETE
    assert rs.space == space("0.0.0.0/0", "::/0")


# --- Google Cloud firewall rules -----------------------------------------------------------------


def test_gcp_priority_and_deny_before_allow_at_equal_priority() -> None:
    rs = read("gcp-firewall", "gcp.json", "tcp/587")
    assert rs.completeness is Completeness.COMPLETE
    # deny-all-disabled (priority 100) is ignored; allow-mail has the default priority 1000
    assert rs.space == space("203.0.113.0/24")
    rs25 = read("gcp-firewall", "gcp.json")
    assert verdict(rs25, "198.51.100.1")[1].startswith("deny-half-b priority 500 deny")
    assert verdict(rs25, "198.51.100.200")[0] == "accept"
    assert verdict(rs25, "203.0.113.200")[0] == "drop"
    assert verdict(rs25, "203.0.113.1")[0] == "accept"
    assert of_kind(rs25, "disabled-rule")


def test_gcp_tags_are_conditional() -> None:
    rs = read("gcp-firewall", "gcp.json")
    assert rs.completeness is Completeness.PARTIAL
    outcome, text = verdict(rs, "192.0.2.1")
    assert outcome == "conditional"
    assert text.startswith("mail-hosts-only")
    assert verdict(rs, "8.8.8.8") == (
        "conditional",
        "allow-from-relays priority 2000 allow tcp:25 from sourceTags relay",
    )


# --- detection and errors ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "fmt"),
    [
        ("sg.json", "aws-security-group"),
        ("sg-pairs.json", "aws-security-group"),
        ("prefix-lists.json", "aws-prefix-list"),
        ("nacl.json", "aws-network-acl"),
        ("nsg.json", "azure-nsg"),
        ("nsg-cli.json", "azure-nsg"),
        ("gcp.json", "gcp-firewall"),
    ],
)
def test_detection(name: str, fmt: str) -> None:
    path = FIXTURES / name
    assert detect_format(str(path), path.read_bytes()) == fmt
    assert READERS[fmt].sniff(path.read_bytes())


@pytest.mark.parametrize(
    ("fmt", "content", "message"),
    [
        ("aws-security-group", '{"SecurityGroups": [], "SecurityGroups": []}', "duplicate"),
        ("aws-network-acl", '{"NetworkAcls": [{"NetworkAclId": NaN}]}', "NaN"),
        ("aws-security-group", '{"SecurityGroups": [{"GroupId": 7}]}', "GroupId: is a number"),
        ("aws-network-acl", '{"NetworkAcls": {}}', "NetworkAcls: is an object, expected an"),
        ("azure-nsg", '{"properties": {"securityRules": [{"properties": {"direction": '
         '"Inbound", "priority": "100"}}]}}', "priority: is a string"),
        ("gcp-firewall", '{"name": "x"}', "expected an array"),
        ("gcp-firewall", '[{"name": "x", "allowed": [{"IPProtocol": "tcp"}], '
         '"sourceRanges": ["10.0.0.300/8"]}]', r"sourceRanges\[0\]"),
        ("aws-security-group", "<html><body>login</body></html>", "HTML"),
        ("aws-security-group", '{"SecurityGroups": [', "invalid JSON"),
    ],
)  # fmt: skip
def test_broken_json_is_a_clear_error_naming_the_file(
    tmp_path: Path, fmt: str, content: str, message: str
) -> None:
    path = tmp_path / "broken.json"
    path.write_text(content)
    with pytest.raises(ReaderError, match=message) as info:
        reader_for(fmt).parse(path.read_bytes(), ReadContext(str(path), "declared"))
    assert str(path) in str(info.value)


# --- CLI -----------------------------------------------------------------------------------------


def test_cli_diff_security_group_for_submission(run_cli: RunCli, write: WriteFile) -> None:
    write("expected.txt", "198.51.100.0/24\n192.0.2.10\n")
    write("sg.json", (FIXTURES / "sg.json").read_bytes())
    code, out, err = run_cli("diff", "-e", "expected.txt", "-d", "sg.json", "--service", "tcp/587")
    assert code == 0, out + err
    code, out, _ = run_cli("diff", "-e", "expected.txt", "-d", "sg.json")  # tcp/25
    assert code == 1
    assert "198.51.100.0/24" in out


def test_cli_prefix_list_companion(run_cli: RunCli, write: WriteFile) -> None:
    write("expected.txt", "100.64.1.0/24\n")
    write("sg.json", (FIXTURES / "sg-prefix.json").read_bytes())
    write("pl.json", (FIXTURES / "prefix-lists.json").read_bytes())
    code, out, err = run_cli("diff", "-e", "expected.txt", "-d", "sg.json", "-d", "pl.json")
    assert code == 0, out + err
    code, _, _ = run_cli("diff", "-e", "expected.txt", "-d", "sg.json")
    assert code == 2  # the prefix list is unresolved: conditional, partial


def test_cli_explain_shows_the_deciding_nsg_rule(run_cli: RunCli, write: WriteFile) -> None:
    write("nsg.json", (FIXTURES / "nsg.json").read_bytes())
    code, out, _ = run_cli("explain", "203.0.113.200", "-d", "nsg.json")
    assert code == 1
    assert "properties.securityRules[1]" in out
    assert "DenyBadHalf priority 100 Deny" in out
    code, out, _ = run_cli("explain", "203.0.113.5", "-d", "nsg.json")
    assert code == 0
    assert "AllowMail" in out


# --- the public corpus ---------------------------------------------------------------------------

# file -> (format, completeness for tcp/25, what is conditional or unsupported)
CORPUS_FILES = {
    "aws-nacl_batfish_hybrid-cloud-us-west-2_NetworkAcls.json": (
        "aws-network-acl", Completeness.PARTIAL, "four ACLs disagree (choose one with --chain)"),
    "aws-prefixlist_batfish_PrefixListTest.json": ("aws-prefix-list", Completeness.COMPLETE, ""),
    "aws-sg_batfish_SecurityGroupTest.json": (
        "aws-security-group", Completeness.COMPLETE,
        "two permissions with FromPort/ToPort -1 skipped (skipped-rule)"),
    "aws-sg_batfish_hybrid-cloud-us-west-2_SecurityGroups.json": (
        "aws-security-group", Completeness.PARTIAL, "UserIdGroupPairs"),
    "aws-sg_batfish_tgw-asym_SecurityGroups.json": (
        "aws-security-group", Completeness.PARTIAL, "UserIdGroupPairs"),
    "aws-sg_batfish_tgw-peering_SecurityGroups.json": (
        "aws-security-group", Completeness.PARTIAL, "UserIdGroupPairs"),
    "aws-sg_batfish_vpc-peering_SecurityGroups.json": (
        "aws-security-group", Completeness.PARTIAL, "UserIdGroupPairs"),
    "azure-nsg_batfish_NetworkSecurityGroupTest.json": (
        "azure-nsg", Completeness.PARTIAL, "VirtualNetwork (AllowVnetInBound)"),
    "azure-nsg_batfish_cloud-azure_VM1-nsg.json": (
        "azure-nsg", Completeness.COMPLETE, "VirtualNetwork, shadowed by a deny-all at 4096"),
    "azure-nsg_batfish_cloud-azure_VM2-nsg.json": (
        "azure-nsg", Completeness.PARTIAL, "VirtualNetwork (AllowVnetInBound)"),
    "azure-nsg_batfish_cloud-azure_subnet-nsg.json": (
        "azure-nsg", Completeness.COMPLETE, "VirtualNetwork, shadowed by a deny-all"),
    "azure-nsg_batfish_test-nsg_nsg-subnet2.json": (
        "azure-nsg", Completeness.PARTIAL, "VirtualNetwork (AllowVnetInBound)"),
    "azure-nsg_batfish_test-nsg_nsg-vm2.json": (
        "azure-nsg", Completeness.PARTIAL, "VirtualNetwork (AllowVnetInBound)"),
    "gcp-firewall_aerleon_sample_gce.json": (
        "gcp-firewall", Completeness.COMPLETE, "targetTags on rules for other ports"),
    "gcp-firewall_aerleon_testMixedIsSeparateRules.json": (
        "gcp-firewall", Completeness.COMPLETE, "targetTags on rules for port 53"),
    "gcp-firewall_aerleon_testSourceNetworkSplit.json": (
        "gcp-firewall", Completeness.COMPLETE, "targetTags on rules for other ports"),
}  # fmt: skip


@pytest.mark.parametrize("name", sorted(CORPUS_FILES))
def test_corpus_files_parse(name: str) -> None:
    path = CORPUS / name
    if not path.exists():
        pytest.skip(f"corpus file {path} is not present")
    fmt, completeness, _ = CORPUS_FILES[name]
    data = path.read_bytes()
    assert detect_format(str(path), data) == fmt
    rs = reader_for(fmt).parse(data, ReadContext(str(path), "declared"))
    assert rs.completeness is completeness, rs.reasons
    assert not [f for f in rs.findings if f.kind not in ("unsupported", "skipped-rule")]


def test_corpus_listing_of_cloud_files_is_complete() -> None:
    if not CORPUS.is_dir():
        pytest.skip(f"corpus {CORPUS} is not present")
    present = {p.name for p in CORPUS.iterdir() if p.name.startswith(("aws-", "azure-", "gcp-"))}
    assert present == set(CORPUS_FILES)


def test_cli_azure_service_tags_resolved_from_the_feed(run_cli: RunCli, write: WriteFile) -> None:
    """A service tag in an NSG rule is resolved through the azure provider's feed when it is
    given with --declared; without it the rule stays conditional."""
    import json

    nsg = {
        "name": "mail-nsg",
        "properties": {
            "securityRules": [
                {
                    "name": "AllowAzureWestEurope",
                    "properties": {
                        "priority": 100, "access": "Allow", "direction": "Inbound",
                        "protocol": "Tcp", "sourcePortRange": "*",
                        "destinationPortRange": "25", "destinationAddressPrefix": "*",
                        "sourceAddressPrefix": "AzureCloud.westeurope",
                    },
                }
            ]
        },
    }  # fmt: skip
    tags = {
        "changeNumber": 7,
        "cloud": "Public",
        "values": [
            {
                "name": "AzureCloud.westeurope",
                "id": "AzureCloud.westeurope",
                "properties": {"changeNumber": 7, "region": "westeurope", "systemService": "",
                               "addressPrefixes": ["198.51.100.0/24", "2001:db8:1::/48"]},
            }
        ],
    }  # fmt: skip
    write("nsg.json", json.dumps(nsg))
    write("tags.json", json.dumps(tags))
    write("expected.txt", "198.51.100.0/25\n")
    code, out, _ = run_cli("diff", "-e", "expected.txt", "-d", "nsg.json", "-o", "json")
    unresolved = json.loads(out)
    assert code == 2 and "AzureCloud.westeurope" in json.dumps(unresolved["verdict"])
    code, out, _ = run_cli(
        "diff", "-e", "expected.txt", "-d", "nsg.json", "-d", "azure:from=tags.json", "-o", "json"
    )
    resolved = json.loads(out)
    assert resolved["missing"] == []
    # still partial: the default AllowVNetInBound rule's VirtualNetwork is not in any feed
    assert "AzureCloud.westeurope" not in json.dumps(resolved["verdict"])
    assert "VirtualNetwork" in json.dumps(resolved["verdict"])
    code, out, _ = run_cli(
        "explain", "198.51.100.7", "-d", "nsg.json", "-d", "azure:from=tags.json"
    )
    assert code == 0 and "AllowAzureWestEurope" in out
    code, out, _ = run_cli("explain", "203.0.113.7", "-d", "nsg.json", "-d", "azure:from=tags.json")
    # outside the tag, the default AllowVNetInBound (VirtualNetwork: not in the export) decides
    assert code == 2 and "conditional" in out and "VirtualNetwork" in out


# --- source ports, equal priorities, numbers out of range ----------------------------------------


def _nsg(*rules: dict[str, object], name: str = "mail-nsg") -> dict[str, object]:
    return {"name": name, "properties": {"securityRules": list(rules)}}


def _nsg_rule(name: str, priority: int, access: str, **extra: object) -> dict[str, object]:
    props: dict[str, object] = {
        "priority": priority, "access": access, "direction": "Inbound", "protocol": "Tcp",
        "destinationPortRange": "*", "destinationAddressPrefix": "*",
        "sourceAddressPrefix": "192.0.2.0/24",
    }  # fmt: skip
    props.update(extra)
    if "sourcePortRanges" not in props:
        props.setdefault("sourcePortRange", "*")
    return {"name": name, "properties": props}


def _parse_json(fmt: str, doc: object, tmp_path: Path, service: str = "tcp/25") -> RangeSet:
    import json

    path = tmp_path / "export.json"
    path.write_text(json.dumps(doc))
    ctx = ReadContext(str(path), "declared", service=Service.parse(service))
    return reader_for(fmt).parse(path.read_bytes(), ctx)


@pytest.mark.parametrize("key", ["sourcePortRange", "sourcePortRanges"])
def test_nsg_source_port_no_client_uses_grants_and_denies_nothing(key: str, tmp_path: Path) -> None:
    """A client connects from an ephemeral port: an Allow (or Deny) for source port 25 never
    matches it, whatever the destination port."""
    value: object = "25" if key == "sourcePortRange" else ["25", "100-1023"]
    allow = _nsg_rule("AllowFromPort25", 100, "Allow", **{key: value})
    deny_all = _nsg_rule("DenyAll", 4000, "Deny", sourceAddressPrefix="*")
    rs = _parse_json("azure-nsg", _nsg(allow, deny_all), tmp_path)
    outcome, text = verdict(rs, "192.0.2.1")
    assert outcome == "drop" and "DenyAll priority 4000" in text
    deny = _nsg_rule("DenyFromPort25", 100, "Deny", **{key: value})
    ok = _nsg_rule("AllowMail", 200, "Allow", destinationPortRange="25")
    rs = _parse_json("azure-nsg", _nsg(deny, ok), tmp_path)
    assert verdict(rs, "192.0.2.1") == (
        "accept",
        "mail-nsg AllowMail priority 200 Allow tcp 25 from 192.0.2.0/24",
    )


@pytest.mark.parametrize("ports", ["0-65535", "1024-65535"])
def test_nsg_source_port_every_client_port_matches(ports: str, tmp_path: Path) -> None:
    rs = _parse_json(
        "azure-nsg", _nsg(_nsg_rule("AllowAll", 100, "Allow", sourcePortRange=ports)), tmp_path
    )
    assert verdict(rs, "192.0.2.1")[0] == "accept"
    assert rs.completeness is not Completeness.FAILED


def test_nsg_source_port_some_client_ports_is_conditional(tmp_path: Path) -> None:
    rule = _nsg_rule("AllowHigh", 100, "Allow", sourcePortRange="40000-65535")
    rs = _parse_json("azure-nsg", _nsg(rule), tmp_path)
    fam, value, _ = ipspace.parse_address("192.0.2.1")
    seg = next(v for v in rs.verdicts if v.family == fam).lookup(value)
    assert seg is not None and seg.outcome == "conditional"
    assert "source port (sourcePortRange 40000-65535)" in seg.rule.why
    assert rs.completeness is Completeness.PARTIAL


def test_nsg_same_priority_and_direction_is_refused(tmp_path: Path) -> None:
    a = _nsg_rule("AllowMail", 300, "Allow")
    b = _nsg_rule("DenyRelays", 300, "Deny")
    for first, second in ((a, b), (b, a)):
        with pytest.raises(ReaderError, match="same priority 300") as info:
            _parse_json("azure-nsg", _nsg(first, second), tmp_path)
        msg = str(info.value)
        assert "AllowMail" in msg and "DenyRelays" in msg
        assert "properties.securityRules[0]" in msg and "properties.securityRules[1]" in msg
        assert "Azure refuses" in msg


def test_nsg_equal_priorities_in_other_directions_or_nsgs_are_fine(tmp_path: Path) -> None:
    inbound = _nsg_rule("AllowMail", 300, "Allow")
    outbound = _nsg_rule("AllowOut", 300, "Allow", direction="Outbound")
    rs = _parse_json("azure-nsg", [_nsg(inbound, outbound), _nsg(inbound, name="b")], tmp_path)
    assert verdict(rs, "192.0.2.1")[0] == "accept"


def test_nsg_custom_priority_colliding_with_an_implied_default_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ReaderError, match="DenyAllInBound"):
        _parse_json("azure-nsg", _nsg(_nsg_rule("Late", 65500, "Allow")), tmp_path)


def test_cli_nsg_equal_priorities_fail_the_source(run_cli: RunCli, write: WriteFile) -> None:
    import json

    doc = _nsg(_nsg_rule("A", 300, "Allow"), _nsg_rule("B", 300, "Deny"))
    write("nsg.json", json.dumps(doc))
    write("expected.txt", "192.0.2.1\n")
    code, out, err = run_cli("diff", "-e", "expected.txt", "-d", "nsg.json")
    assert code == 2
    assert "same priority 300" in out + err


def test_long_number_in_an_export_is_an_error_naming_its_path(tmp_path: Path) -> None:
    path = tmp_path / "sg.json"
    digits = "1" * 5001
    path.write_text(
        '{"SecurityGroups": [{"GroupId": "sg-1", "IpPermissions": [{"IpProtocol": "tcp", '
        f'"FromPort": {digits}, "ToPort": 25, "IpRanges": [{{"CidrIp": "192.0.2.0/24"}}]}}]}}]}}'
    )
    with pytest.raises(ReaderError) as info:
        reader_for("aws-security-group").parse(path.read_bytes(), ReadContext(str(path), "x"))
    msg = str(info.value)
    assert str(path) in msg
    assert "SecurityGroups[0].IpPermissions[0].FromPort: a number of 5001 digits" in msg
    assert info.value.hint and "0-65535" in info.value.hint


def test_cli_long_number_is_a_failed_source_not_an_internal_error(
    run_cli: RunCli, write: WriteFile
) -> None:
    write("expected.txt", "192.0.2.1\n")
    write("list.json", f'["192.0.2.1", {"9" * 5000}]')
    code, out, err = run_cli("diff", "-e", "expected.txt", "-d", "list.json")
    assert code == 2
    assert "internal error" not in out + err
    assert "a number of 5000 digits is out of range" in out + err


@pytest.mark.parametrize(
    ("fmt", "doc", "path"),
    [
        ("azure-nsg", _nsg(_nsg_rule("Huge", 10**40, "Allow")),
         r"properties.securityRules\[0\].properties.priority"),
        ("azure-nsg", _nsg(_nsg_rule("Negative", -1, "Allow")),
         r"properties.securityRules\[0\].properties.priority"),
        ("gcp-firewall", [{"name": "x", "priority": 10**40, "allowed": [{"IPProtocol": "tcp"}]}],
         r"\[0\].priority"),
        ("aws-network-acl", {"NetworkAcls": [{"NetworkAclId": "acl-1", "Entries": [
            {"Egress": False, "RuleNumber": 10**40, "RuleAction": "allow", "Protocol": "-1",
             "CidrBlock": "0.0.0.0/0"}]}]}, r"Entries\[0\].RuleNumber"),
        ("aws-network-acl", {"NetworkAcls": [{"NetworkAclId": "acl-1", "Entries": [
            {"Egress": False, "RuleNumber": 100, "RuleAction": "allow", "Protocol": "6",
             "PortRange": {"From": 25, "To": 70000}, "CidrBlock": "0.0.0.0/0"}]}]},
         r"Entries\[0\].PortRange: From 25 .. To 70000"),
    ],
)  # fmt: skip
def test_numbers_out_of_range_are_errors(fmt: str, doc: object, path: str, tmp_path: Path) -> None:
    with pytest.raises(ReaderError, match=path) as info:
        _parse_json(fmt, doc, tmp_path)
    assert info.value.hint


_LONG = "9" * 5001


@pytest.mark.parametrize(
    ("fmt", "doc", "path"),
    [
        ("gcp-firewall", [{"name": "x", "sourceRanges": ["192.0.2.0/24"],
                           "allowed": [{"IPProtocol": "tcp", "ports": [_LONG]}]}],
         r"\[0\].allowed\[0\].ports"),
        ("azure-nsg", _nsg(_nsg_rule("LongPort", 100, "Allow", destinationPortRange=_LONG)),
         r"properties.securityRules\[0\].properties.destinationPortRange"),
        ("azure-nsg", _nsg(_nsg_rule("LongSource", 100, "Allow", sourcePortRange="1-" + _LONG)),
         r"properties.securityRules\[0\].properties.sourcePortRange"),
        ("azure-nsg", _nsg(_nsg_rule("LongAccess", 100, "A" + _LONG)),
         r"properties.securityRules\[0\].properties"),
        ("aws-network-acl", {"NetworkAcls": [{"NetworkAclId": "acl-1", "Entries": [
            {"Egress": False, "RuleNumber": 100, "RuleAction": "a" + _LONG, "Protocol": "-1",
             "CidrBlock": "0.0.0.0/0"}]}]}, r"Entries\[0\]"),
        ("aws-security-group", {"SecurityGroups": [{"GroupId": "sg-1", "IpPermissions": [
            {"IpProtocol": "-1", "IpRanges": [{"CidrIp": "1" + _LONG + "-1"}]}]}]},
         r"IpRanges\[0\].CidrIp"),
    ],
    ids=["gcp-port", "nsg-port", "nsg-source-port", "nsg-access", "nacl-action", "sg-cidr"],
)  # fmt: skip
def test_long_values_are_errors_with_a_short_message(
    fmt: str, doc: object, path: str, tmp_path: Path
) -> None:
    with pytest.raises(ReaderError, match=path) as info:
        _parse_json(fmt, doc, tmp_path)
    assert len(str(info.value)) < 300, str(info.value)[:300]
    assert "..." in str(info.value)


@pytest.mark.parametrize(
    ("body", "named"),
    [
        (b'<?xml version="1.0"?>\n<SecurityGroups><item/></SecurityGroups>\n', "an XML document"),
        (b"<html><body>sign in</body></html>", "an HTML page"),
    ],
)
@pytest.mark.parametrize("fmt", ["aws-security-group", "azure-nsg", "gcp-firewall"])
def test_markup_given_for_a_json_export_is_named_for_what_it_is(
    fmt: str, body: bytes, named: str
) -> None:
    ctx = ReadContext("export.json", "declared", service=Service.parse("tcp/25"))
    with pytest.raises(ReaderError) as e:
        reader_for(fmt).parse(body, ctx)
    assert f"this is {named}" in str(e.value)
    assert "not a JSON export" in str(e.value)

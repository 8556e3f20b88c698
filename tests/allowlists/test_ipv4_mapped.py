"""IPv4-mapped IPv6 (``::ffff:192.0.2.0/120``) has one reading in every reader, on both sides:
it is kept as IPv6, as written (as the kernel, ipaddress and netaddr read it), never as the
IPv4 network it names, and a warning names the line and the IPv4 form to write instead."""

from __future__ import annotations

import ipaddress
import json
from pathlib import Path

import pytest
from conftest import RunCli, WriteFile

from auditor.allowlists import ReadContext, ReaderError, reader_for
from auditor.model import RangeSet, Role, Severity
from auditor.service import Service

CLOUD = Path(__file__).parent.parent / "fixtures" / "cloud"
MAPPED = "::ffff:203.0.113.7"  # inside the mapped entry of every case below
SENDER = "203.0.113.7"  # the IPv4 sender it names, which it must not cover


def parse(fmt: str, data: str, name: str, role: Role = "declared") -> RangeSet:
    ctx = ReadContext(name, role, service=Service.parse("tcp/25"))
    return reader_for(fmt).parse(data.encode("utf-8"), ctx)


def allowed(rs: RangeSet, address: str) -> bool:
    if rs.verdicts:
        parsed = ipaddress.ip_address(address)
        for verdicts in rs.verdicts:
            if verdicts.family == parsed.version:
                segment = verdicts.lookup(int(parsed))
                return segment is not None and segment.outcome == "accept"
        return False
    return address in rs.space


def sg_with_mapped() -> str:
    doc = json.loads((CLOUD / "sg.json").read_text(encoding="utf-8"))
    permission = doc["SecurityGroups"][0]["IpPermissions"][0]
    permission["IpRanges"] = [{"CidrIp": "192.0.2.0/24"}]
    permission["Ipv6Ranges"] = [{"CidrIpv6": "::ffff:203.0.113.0/120"}]
    return json.dumps(doc, indent=1)


CASES = [
    pytest.param("text", "2001:db8::/32\n::ffff:203.0.113.0/120\n", "list.txt", 2, id="text"),
    pytest.param("yaml", '- 2001:db8::/32\n- "::ffff:203.0.113.0/120"\n', "a.yaml", 2, id="yaml"),
    pytest.param("json", '["2001:db8::/32", "::ffff:203.0.113.0/120"]', "a.json", None, id="json"),
    pytest.param(
        "nginx",
        "location / {\n  allow ::ffff:203.0.113.0/120;\n  deny all;\n}\n",
        "nginx.conf",
        2,
        id="nginx",
    ),
    pytest.param(
        "ufw-status",
        "Status: active\n\nTo                         Action      From\n"
        "--                         ------      ----\n"
        "25/tcp (v6)                ALLOW       ::ffff:203.0.113.0/120\n",
        "ufw.txt",
        5,
        id="ufw",
    ),
    pytest.param(
        "iptables-save",
        "*filter\n:INPUT DROP [0:0]\n-A INPUT -s ::ffff:203.0.113.0/120 -j ACCEPT\nCOMMIT\n",
        "rules",
        3,
        id="ip6tables",
    ),
    pytest.param(
        "exchange-connector",
        "Identity       : EX01\\Relay\nEnabled        : True\nBindings       : {0.0.0.0:25}\n"
        "RemoteIPRanges : {::ffff:203.0.113.0/120}\n",
        "connectors.txt",
        4,
        id="exchange",
    ),
]


@pytest.mark.parametrize(("fmt", "data", "name", "line"), CASES)
def test_a_mapped_entry_is_ipv6_with_a_warning(
    fmt: str, data: str, name: str, line: int | None
) -> None:
    rs = parse(fmt, data, name)
    assert allowed(rs, MAPPED)
    assert not allowed(rs, SENDER)
    (warning,) = [f for f in rs.findings if f.kind == "ipv4-mapped"]
    assert warning.severity is Severity.WARNING
    assert warning.origin is not None and warning.origin.source == name
    assert warning.origin.line == line
    assert "kept as IPv6" in warning.message
    assert "write 203.0.113.0/24 if IPv4 is meant" in warning.message


def test_a_mapped_entry_in_a_security_group_is_ipv6() -> None:
    rs = parse("aws-security-group", sg_with_mapped(), "sg.json")
    assert allowed(rs, MAPPED) and not allowed(rs, SENDER)
    (warning,) = [f for f in rs.findings if f.kind == "ipv4-mapped"]
    assert "does not cover the IPv4 sender 203.0.113.0/24" in warning.message


def test_a_mapped_entry_on_the_expected_side_is_ipv6() -> None:
    rs = parse("text", "::ffff:203.0.113.0/120\n", "feed.txt", role="expected")
    assert MAPPED in rs.space and SENDER not in rs.space
    assert [f.kind for f in rs.findings] == ["ipv4-mapped"]


def test_nftables_reads_mapped_as_ipv6_only() -> None:
    table = "table inet filter {{\n chain input {{\n  type filter hook input priority 0;" \
        " policy drop;\n  {rule}\n }}\n}}\n"  # fmt: skip
    rs = parse("nftables", table.format(rule="ip6 saddr ::ffff:203.0.113.0/120 accept"), "a.nft")
    assert allowed(rs, MAPPED) and not allowed(rs, SENDER)
    with pytest.raises(ReaderError, match="is IPv6 where an IPv4 address belongs"):
        parse("nftables", table.format(rule="ip saddr ::ffff:203.0.113.0/120 accept"), "a.nft")


# As `nft list ruleset` prints it: a mapped address in a set, in a rule, in a rule's own set.
NFT_MAPPED = """\
table inet filter {
\tset mapped {
\t\ttype ipv6_addr
\t\tflags interval
\t\telements = { ::ffff:198.51.100.0/120,
\t\t\t     2001:db8::/32 }
\t}

\tchain input {
\t\ttype filter hook input priority filter; policy drop;
\t\tip6 saddr ::ffff:192.0.2.0/120 tcp dport 25 accept
\t\tip6 saddr @mapped tcp dport 25 accept
\t\tip6 saddr { ::ffff:203.0.113.7, 2001:db8:1::1 } tcp dport 25 accept
\t}
}
"""
# The same ruleset as `nft -j list ruleset` prints it (one line: no line numbers).
NFT_MAPPED_JSON = (
    '{"nftables": [{"metainfo": {"version": "1.0.6", "release_name": "Lester Gooch #5", "json'
    '_schema_version": 1}}, {"table": {"family": "inet", "name": "filter", "handle": 1}}, {"s'
    'et": {"family": "inet", "name": "mapped", "table": "filter", "type": "ipv6_addr", "handl'
    'e": 2, "flags": ["interval"], "elem": [{"prefix": {"addr": "::ffff:198.51.100.0", "len":'
    ' 120}}, {"prefix": {"addr": "2001:db8::", "len": 32}}]}}, {"chain": {"family": "inet", "'
    'table": "filter", "name": "input", "handle": 1, "type": "filter", "hook": "input", "prio'
    '": 0, "policy": "drop"}}, {"rule": {"family": "inet", "table": "filter", "chain": "input'
    '", "handle": 3, "expr": [{"match": {"op": "==", "left": {"payload": {"protocol": "ip6", '
    '"field": "saddr"}}, "right": {"prefix": {"addr": "::ffff:192.0.2.0", "len": 120}}}}, {"m'
    'atch": {"op": "==", "left": {"payload": {"protocol": "tcp", "field": "dport"}}, "right":'
    ' 25}}, {"accept": null}]}}, {"rule": {"family": "inet", "table": "filter", "chain": "inp'
    'ut", "handle": 4, "expr": [{"match": {"op": "==", "left": {"payload": {"protocol": "ip6"'
    ', "field": "saddr"}}, "right": "@mapped"}}, {"match": {"op": "==", "left": {"payload": {'
    '"protocol": "tcp", "field": "dport"}}, "right": 25}}, {"accept": null}]}}, {"rule": {"fa'
    'mily": "inet", "table": "filter", "chain": "input", "handle": 6, "expr": [{"match": {"op'
    '": "==", "left": {"payload": {"protocol": "ip6", "field": "saddr"}}, "right": {"set": ["'
    '::ffff:203.0.113.7", "2001:db8:1::1"]}}}, {"match": {"op": "==", "left": {"payload": {"p'
    'rotocol": "tcp", "field": "dport"}}, "right": 25}}, {"accept": null}]}}]}'
)


@pytest.mark.parametrize(
    ("fmt", "data", "where"),
    [
        pytest.param("nftables", NFT_MAPPED, [(5, None), (11, None), (13, None)], id="text"),
        pytest.param(
            "nftables-json",
            NFT_MAPPED_JSON,
            [(None, "nftables[2].elem[0]"), (None, "nftables[4]"), (None, "nftables[6]")],
            id="json",
        ),
    ],
)
def test_nftables_warns_once_per_mapped_address(
    fmt: str, data: str, where: list[tuple[int | None, str | None]]
) -> None:
    """Each address written mapped is named once, with where it is and the IPv4 form, however
    often it is evaluated (an inet table is read for both families, a set by every rule that
    names it)."""
    rs = parse(fmt, data, "fw.nft")
    for address in ("::ffff:192.0.2.1", "::ffff:198.51.100.1", MAPPED):
        assert allowed(rs, address)
    for address in ("192.0.2.1", "198.51.100.1", SENDER):
        assert not allowed(rs, address)
    warnings = sorted(
        (f for f in rs.findings if f.kind == "ipv4-mapped"),
        key=lambda f: (f.origin.line or 0, f.origin.path or "") if f.origin else (0, ""),
    )
    assert [(f.origin.line, f.origin.path) for f in warnings if f.origin] == where
    assert all(f.origin and f.origin.source == "fw.nft" for f in warnings)
    assert all(f.severity is Severity.WARNING for f in warnings)
    assert [m.split(" if IPv4")[0].rsplit("; ", 1)[1] for m in (f.message for f in warnings)] == [
        "write 198.51.100.0/24",
        "write 192.0.2.0/24",
        "write 203.0.113.7/32",
    ]


def test_nftables_mapped_warning_on_the_command_line(run_cli: RunCli, write: WriteFile) -> None:
    write("nodes.txt", "192.0.2.0/24\n")
    write("fw.nft", NFT_MAPPED)
    code, _, err = run_cli("diff", "-e", "nodes.txt", "-d", "fw.nft")
    assert code == 1
    assert (
        "warning: fw.nft:11: '::ffff:192.0.2.0/120' is IPv4-mapped IPv6: kept as IPv6, as"
        " written, so it does not cover the IPv4 sender 192.0.2.0/24; write 192.0.2.0/24 if"
        " IPv4 is meant"
    ) in err


def test_the_postfix_reading_agrees_mapped_patterns_match_no_client() -> None:
    rs = parse("postfix-mynetworks", "[::ffff:203.0.113.0]/120 [2001:db8::]/32\n", "mynetworks")
    assert not allowed(rs, SENDER) and not allowed(rs, MAPPED)
    assert [f.kind for f in rs.findings if f.kind == "ipv4-mapped"] == ["ipv4-mapped"]


def test_a_list_with_mapped_entries_does_not_fail_the_run(
    run_cli: RunCli, write: WriteFile
) -> None:
    write("nodes.txt", "2001:db8::/32\n::ffff:203.0.113.0/120\n")
    write("allow.txt", "::ffff:203.0.113.0/120\n2001:db8::/32\n")
    write(
        "fw6.rules",
        "*filter\n:INPUT DROP [0:0]\n-A INPUT -s ::ffff:203.0.113.0/120 -j ACCEPT\n"
        "-A INPUT -s 2001:db8::/32 -j ACCEPT\nCOMMIT\n",
    )
    for declared in ("allow.txt", "fw6.rules"):
        code, _, err = run_cli("diff", "-e", "nodes.txt", "-d", declared)
        assert code == 0, err
        assert "warning: nodes.txt:2: '::ffff:203.0.113.0/120' is IPv4-mapped IPv6" in err
        assert f"warning: {declared}:" in err
    # the IPv4 sender it names is another address: listed as IPv4, it is missing
    write("nodes.txt", "203.0.113.0/24\n2001:db8::/32\n")
    write("fw4.rules", "*filter\n:INPUT DROP [0:0]\nCOMMIT\n")
    code, out, err = run_cli("diff", "-e", "nodes.txt", "-d", "fw6.rules", "-d", "fw4.rules",
                             "-o", "cidr")  # fmt: skip
    assert code == 1, err
    assert out == "203.0.113.0/24\n"

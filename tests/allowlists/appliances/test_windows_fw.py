"""Windows Defender Firewall exports (Get-NetFirewallRule CSV, netsh show rule verbose):
hand-written exports whose verdicts are worked out from Microsoft's documentation.

Sources: "[MS-FASP] 2.2.34 FW_RULE_ACTION"
(https://learn.microsoft.com/en-us/openspecs/windows_protocols/ms-fasp/702e3c23-c9d8-43db-8380-b4c670dd7f7d):
"Allow-bypass rules take precedence over block rules, and block rules take precedence over
allow rules"; "New-NetFirewallRule" (https://learn.microsoft.com/powershell/module/netsecurity/
new-netfirewallrule): RemoteAddress forms (addresses, subnets, a/mask, ranges, keywords such as
LocalSubnet, DNS, DHCP, WINS, DefaultGateway, Internet, Intranet), LocalPort forms (ports,
ranges, RPC, RPCEPMap, IPHTTPS), Profile (Domain, Private, Public, Any); "Windows Firewall
rules" (https://learn.microsoft.com/windows/security/operating-system-security/network-security/
windows-firewall/rules): inbound traffic that no rule allows is blocked by default.
No corpus file of this format exists under ../shared/corpus/firewall.
"""

from __future__ import annotations

import ipaddress
from pathlib import Path

import pytest

from auditor.allowlists import ReadContext, ReaderError, reader_for
from auditor.allowlists.appliances.windows_fw import PIPELINE
from auditor.model import RangeSet
from auditor.service import Service
from auditor.sources.files import detect_format
from tests.conftest import RunCli

HEAD = (
    '"Name","DisplayName","Enabled","Direction","Action","Profile","RemoteAddress",'
    '"LocalAddress","Protocol","LocalPort","RemotePort","OverrideBlockRules"'
)
CSV = f"""\
#TYPE System.Management.Automation.PSCustomObject
{HEAD}
"SMTP-In","Mail (SMTP-In)","True","Inbound","Allow","Any","192.0.2.0/24,198.51.100.7,203.0.113.0/255.255.255.128","Any","TCP","25","Any","False"
"Block-Bad","Block bad","True","Inbound","Block","Any","192.0.2.128-192.0.2.255","Any","TCP","25,587","Any","False"
"Private-only","Private SMTP","True","Inbound","Allow","Private","10.0.0.0/8","Any","TCP","25","Any","False"
"Subnet","Subnet SMTP","True","Inbound","Allow","Domain, Private, Public","LocalSubnet","Any","TCP","25","Any","False"
"Out","Out","True","Outbound","Block","Any","Any","Any","Any","Any","Any","False"
"Off","Off","False","Inbound","Allow","Any","Any","Any","TCP","25","Any","False"
"Bypass","Bypass","True","Inbound","Allow","Any","192.0.2.130","Any","TCP","25","Any","True"
"V6","V6","True","Inbound","Allow","Any","2001:db8::/32","192.0.2.10,2001:db8:ffff::25","6","1-1000","Any","False"
"RPC","RPC","True","Inbound","Allow","Any","198.18.0.0/15","Any","TCP","RPC","Any","False"
"""  # noqa: E501
"""Lines: 3 SMTP-In, 4 Block-Bad, 5 Private-only, 6 Subnet, 9 Bypass, 10 V6, 11 RPC."""


def read(
    data: str, *, service: str = "tcp/25", chain: str = "INPUT", to: str | None = None
) -> RangeSet:
    ctx = ReadContext("fw.csv", "declared", service=Service.parse(service), chain=chain, to=to)
    return reader_for("windows-firewall").parse(data.encode(), ctx)


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


def test_block_wins_over_allow_regardless_of_order() -> None:
    rs = read(CSV, chain="public")
    assert {a: verdict(rs, a) for a in ("192.0.2.5", "192.0.2.200", "198.51.100.7",
                                        "203.0.113.5", "203.0.113.200")} == {
        "192.0.2.5": ("accept", 3),
        "192.0.2.200": ("drop", 4),  # allowed by SMTP-In, blocked by Block-Bad: block wins
        "198.51.100.7": ("accept", 3),
        "203.0.113.5": ("accept", 3),  # 203.0.113.0/255.255.255.128
        "203.0.113.200": ("conditional", 6),  # only LocalSubnet may allow it
    }  # fmt: skip
    assert "LocalSubnet" in why(rs, "203.0.113.200")


def test_allow_bypass_is_conditional_before_the_blocks() -> None:
    rs = read(CSV, chain="public")
    assert verdict(rs, "192.0.2.130") == ("conditional", 9)
    assert "authenticated" in why(rs, "192.0.2.130")


def test_profiles() -> None:
    assert verdict(read(CSV, chain="private"), "10.1.1.1") == ("accept", 5)
    assert verdict(read(CSV, chain="domain"), "10.1.1.1") == ("conditional", 6)
    rs = read(CSV)  # no profile named: the profiles disagree on 10/8
    assert verdict(rs, "10.1.1.1")[0] == "conditional"
    assert "allowed only under the Private profile" in why(rs, "10.1.1.1")
    assert "give --chain domain|private|public" in why(rs, "10.1.1.1")
    assert verdict(rs, "192.0.2.5") == ("accept", 3)  # every profile allows it


def test_local_address_and_to() -> None:
    assert verdict(read(CSV, to="2001:db8:ffff::25"), "2001:db8::1") == ("accept", 10)
    # not to this address: only the LocalSubnet rule may let it in
    assert verdict(read(CSV, to="2001:db8:ffff::26"), "2001:db8::1") == ("conditional", 6)
    no_subnet = CSV.replace("LocalSubnet", "192.0.2.99")
    assert verdict(read(no_subnet), "2001:db8::1") == ("conditional", 10)
    assert "give --to" in why(read(no_subnet), "2001:db8::1")


def test_port_keywords_and_service_any() -> None:
    rs = read(CSV, service="tcp/135")
    assert verdict(rs, "198.18.0.1") == ("conditional", 11)
    assert "LocalPort RPC" in why(rs, "198.18.0.1")
    assert verdict(read(CSV, service="tcp/22"), "192.0.2.5")[0] == "drop"
    rs = read(CSV, service="any")
    assert verdict(rs, "192.0.2.5")[0] == "drop"  # an allow of tcp/25 is not every connection


NETSH = """
Rule Name:                            Allow SMTP relays
----------------------------------------------------------------------
Description:                          relays
Enabled:                              Yes
Direction:                            In
Profiles:                             Domain,Private,Public
Grouping:
LocalIP:                              Any
RemoteIP:                             192.0.2.0/24,198.51.100.0-198.51.100.9,WINS
Protocol:                             TCP
LocalPort:                            25
RemotePort:                           Any
Edge traversal:                       No
Program:                              Any
Service:                              Any
InterfaceTypes:                       Any
Security:                             NotRequired
Rule source:                          Local Setting
Action:                               Allow

Rule Name:                            Block one
----------------------------------------------------------------------
Enabled:                              Yes
Direction:                            In
Profiles:                             Public
LocalIP:                              Any
RemoteIP:                             192.0.2.7/32
Protocol:                             Any
Edge traversal:                       No
Action:                               Block

Rule Name:                            Exchange
----------------------------------------------------------------------
Enabled:                              Yes
Direction:                            In
Profiles:                             Domain,Private,Public
LocalIP:                              Any
RemoteIP:                             Any
Protocol:                             TCP
LocalPort:                            25
RemotePort:                           Any
Edge traversal:                       No
Program:                              C:\\Exchange\\Bin\\EdgeTransport.exe
Action:                               Allow
Ok.
"""


def test_netsh_verbose() -> None:
    rs = read(NETSH, chain="public")
    assert verdict(rs, "192.0.2.5") == ("accept", 2)
    assert verdict(rs, "198.51.100.9") == ("accept", 2)
    assert verdict(rs, "192.0.2.7") == ("drop", 22)
    assert verdict(rs, "203.0.113.1") == ("conditional", 2)  # WINS, then the program rule
    assert verdict(read(NETSH, chain="domain"), "192.0.2.7") == ("accept", 2)
    no_wins = read(NETSH.replace(",WINS", ""), chain="public")
    assert verdict(no_wins, "203.0.113.1") == ("conditional", 33)
    assert "EdgeTransport.exe" in why(no_wins, "203.0.113.1")


def _row(remote: str = "Any", port: str = "25") -> str:
    return (
        f'{HEAD}\n"a","a","True","Inbound","Allow","Any","{remote}","Any","TCP","{port}","Any",""\n'
    )


@pytest.mark.parametrize(
    ("text", "line", "message"),
    [
        ('"Name","Enabled"\n"a","True"\n', 1, "lacks the column"),
        (_row("System.Object[]"), 2, "join the lists"),
        (_row("300.1.1.1"), 2, "300.1.1.1"),
        (_row(port="99999"), 2, "out of range"),
        (
            "Rule Name: x\n---\nEnabled: Yes\nDirection: In\nAction: Allow\nRemoteIP: Any\n"
            "Foo: 1\n",
            7,
            "unknown field",
        ),
    ],
)
def test_errors_name_the_line(text: str, line: int, message: str) -> None:
    with pytest.raises(ReaderError, match=message) as got:
        read(text)
    assert got.value.line == line


def test_missing_columns_hint_gives_the_pipeline(tmp_path: Path, run_cli: RunCli) -> None:
    bad = tmp_path / "fw.csv"
    bad.write_text('"Name","Enabled","Direction","RemoteAddress"\n"a","True","Inbound","Any"\n')
    exp = tmp_path / "e.txt"
    exp.write_text("192.0.2.0/24\n")
    got = run_cli("diff", "-e", str(exp), "-d", str(bad))
    assert got.code == 2
    assert "Get-NetFirewallAddressFilter" in got.stderr and "fw.csv:1" in got.stderr
    assert "Get-NetFirewallPortFilter" in PIPELINE


def test_scopes_are_rule_names_and_display_names() -> None:
    rs = read(CSV)
    assert rs.make_objects is not None
    objects = rs.make_objects()
    groups: dict[str | None, list[str]] = {}
    for family in (4, 6):
        for i in range(objects.count(family)):
            e = objects.entry(family, i)
            groups.setdefault(e.group, []).append(e.text)
    assert groups["SMTP-In"] == groups["Mail (SMTP-In)"]
    assert groups["SMTP-In"] == ["192.0.2.0/24", "198.51.100.7/32", "203.0.113.0/25"]
    assert "Block-Bad" not in groups


def test_detection() -> None:
    assert detect_format("fw.csv", CSV.encode()) == "windows-firewall"
    assert detect_format("rules.txt", NETSH.encode()) == "windows-firewall"


def test_explain_names_the_rule(tmp_path: Path, run_cli: RunCli) -> None:
    path = tmp_path / "fw.csv"
    path.write_text(CSV)
    got = run_cli("explain", "192.0.2.200", "-d", str(path), "--chain", "public")
    assert f"{path}:4: Block bad (Block-Bad): Block TCP 25,587" in got.stdout

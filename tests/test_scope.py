"""--scope on firewall objects: an ipset, an nftables named set, an iptables chain, an AWS
security group, a Postfix cidr table. Extras are the object's own addresses the expected side
does not list, whether or not an earlier rule decides them."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from auditor.ipspace import IPSpace
from tests.conftest import RunCli, WriteFile

EXPECTED = "192.0.2.0/24\n"


def extras(run_cli: RunCli, *args: str) -> tuple[int, list[tuple[str, list[str]]], str]:
    """(exit code, [(extra CIDR, [origin source:line, ...])], stderr) of a JSON diff."""
    code, out, err = run_cli("diff", "-o", "json", "-e", "exp.txt", *args)
    if not out:
        return code, [], err
    found = []
    for block in json.loads(out)["extra"] or []:
        where = [f"{o['source']}:{o['line']}" for o in block["origins"]]
        found.append((block["cidr"], where))
    return code, found, err


@pytest.fixture
def expected(write: WriteFile) -> None:
    write("exp.txt", EXPECTED)


IPSET = """\
create mail hash:net family inet hashsize 1024 maxelem 65536
add mail 192.0.2.0/24
add mail 198.51.100.0/24
create admins hash:ip family inet hashsize 1024 maxelem 65536
add admins 203.0.113.7
"""

IPTABLES = """\
*filter
:INPUT DROP [0:0]
:FORWARD DROP [0:0]
:OUTPUT ACCEPT [0:0]
:SMTP - [0:0]
-A INPUT -p tcp -m tcp --dport 25 -j SMTP
-A INPUT -p tcp -m tcp --dport 22 -s 203.0.113.0/24 -j ACCEPT
-A SMTP -s 10.9.9.9/32 -j DROP
-A SMTP -m set --match-set mail src -j ACCEPT
-A SMTP -s 192.0.2.0/25 -j ACCEPT
-A SMTP -s 10.9.9.0/24 -j ACCEPT
COMMIT
"""


@pytest.mark.usefixtures("expected")
def test_iptables_chain_scope(run_cli: RunCli, write: WriteFile) -> None:
    write("fw.rules", IPTABLES)
    write("sets.ipset", IPSET)
    code, found, err = extras(run_cli, "-d", "fw.rules", "-d", "sets.ipset", "--scope", "SMTP")
    assert code == 0, err
    # the set's and the rules' sources, the one the earlier DROP shadows included
    assert found == [
        ("10.9.9.0/24", ["fw.rules:11"]),
        ("198.51.100.0/24", ["fw.rules:9"]),
    ]
    # INPUT's own ACCEPT rule is for port 22: not a source of the audited service
    code, found, err = extras(run_cli, "-d", "fw.rules", "-d", "sets.ipset", "--scope", "INPUT")
    assert (code, found) == (0, []), err
    code, _, _ = extras(
        run_cli, "-d", "fw.rules", "-d", "sets.ipset", "--scope", "SMTP", "--fail-on-extra"
    )
    assert code == 1


@pytest.mark.usefixtures("expected")
def test_ipset_scope_next_to_its_iptables_export(run_cli: RunCli, write: WriteFile) -> None:
    write("fw.rules", IPTABLES)
    write("sets.ipset", IPSET)
    code, found, err = extras(run_cli, "-d", "fw.rules", "-d", "sets.ipset", "--scope", "mail")
    assert code == 0, err
    assert found == [("198.51.100.0/24", ["fw.rules:9"])]
    # a set no rule uses is no object of the ruleset
    code, _, err = extras(run_cli, "-d", "fw.rules", "-d", "sets.ipset", "--scope", "admins")
    assert code == 2
    assert "unknown scope 'admins'" in err
    assert "SMTP" in err and "mail" in err


@pytest.mark.usefixtures("expected")
def test_ipset_scope_on_its_own(run_cli: RunCli, write: WriteFile) -> None:
    write("sets.ipset", IPSET)
    code, found, err = extras(run_cli, "-d", "sets.ipset", "--scope", "mail")
    assert [c for c, _ in found] == ["198.51.100.0/24"], err


NFT = """\
table inet filter {
  set mail_v4 {
    type ipv4_addr
    flags interval
    elements = { 192.0.2.0/24, 198.51.100.0/24 }
  }
  set mail_v6 {
    typeof ip6 saddr
    flags interval
    elements = { 2001:db8::/32, 2001:db8:ffff::/48, 3fff:1::/48 }
  }
  set ports {
    type inet_service
    elements = { 25, 587 }
  }
  chain input {
    type filter hook input priority 0; policy drop;
    ip saddr @mail_v4 tcp dport 25 accept
    ip6 saddr @mail_v6 tcp dport 25 accept
  }
}
table ip other {
  set mail_v4 {
    type ipv4_addr
    elements = { 192.0.2.1 }
  }
}
"""


@pytest.mark.usefixtures("expected")
def test_nftables_set_scope(run_cli: RunCli, write: WriteFile) -> None:
    write("fw.nft", NFT)
    write("exp.txt", EXPECTED + "2001:db8::/32\n")
    code, found, err = extras(run_cli, "-d", "fw.nft", "--scope", "filter/mail_v4")
    assert code == 0, err
    assert found == [("198.51.100.0/24", ["fw.nft:2"])]
    code, found, err = extras(run_cli, "-d", "fw.nft", "--scope", "mail_v6")
    assert code == 0, err
    assert [c for c, _ in found] == ["3fff:1::/48"]
    # two tables have a mail_v4: the bare name is ambiguous, and the error says which
    code, _, err = extras(run_cli, "-d", "fw.nft", "--scope", "mail_v4")
    assert code == 2
    assert "filter/mail_v4" in err and "other/mail_v4" in err
    code, _, err = extras(run_cli, "-d", "fw.nft", "--scope", "ports")
    assert code == 2  # a set of ports holds no addresses: no scope
    assert "unknown scope 'ports'" in err


SG = {
    "SecurityGroups": [
        {
            "GroupId": "sg-0aa",
            "GroupName": "mail",
            "IpPermissions": [
                {
                    "IpProtocol": "tcp",
                    "FromPort": 25,
                    "ToPort": 25,
                    "IpRanges": [{"CidrIp": "192.0.2.0/24"}, {"CidrIp": "198.51.100.0/24"}],
                    "Ipv6Ranges": [],
                }
            ],
        },
        {
            "GroupId": "sg-0bb",
            "GroupName": "ssh",
            "IpPermissions": [
                {
                    "IpProtocol": "tcp",
                    "FromPort": 22,
                    "ToPort": 22,
                    "IpRanges": [{"CidrIp": "203.0.113.0/24"}],
                }
            ],
        },
    ]
}


@pytest.mark.usefixtures("expected")
def test_security_group_scope(run_cli: RunCli, write: WriteFile) -> None:
    write("sg.json", json.dumps(SG))
    code, found, err = extras(run_cli, "-d", "sg.json", "--scope", "sg-0aa")
    assert code == 0, err
    assert [c for c, _ in found] == ["198.51.100.0/24"]
    code, found, err = extras(run_cli, "-d", "sg.json", "--scope", "sg-0bb")
    assert (code, found) == (0, []), err  # its permission is for another port


CIDR = """\
192.0.2.0/24 OK
10.1.0.0/16 REJECT
198.51.100.0/24 OK
!203.0.113.0/24 REJECT
"""


@pytest.mark.usefixtures("expected")
def test_postfix_cidr_table_scope(run_cli: RunCli, write: WriteFile) -> None:
    write("conf/client_access.cidr", CIDR)
    for name in ("conf/client_access.cidr", "client_access.cidr"):
        code, found, err = extras(run_cli, "-d", "conf/client_access.cidr", "--scope", name)
        assert code == 0, err
        # OK patterns only
        assert found == [("198.51.100.0/24", ["conf/client_access.cidr:3"])]


@pytest.mark.usefixtures("expected")
def test_postfix_table_referenced_by_mynetworks(run_cli: RunCli, write: WriteFile) -> None:
    write("pf/main.cf", "mynetworks = 127.0.0.0/8 cidr:/etc/postfix/relays.cidr\n")
    write("pf/relays.cidr", "192.0.2.0/24 x\n198.51.100.7 x\n")
    for name in ("relays.cidr", "/etc/postfix/relays.cidr", "cidr:/etc/postfix/relays.cidr"):
        code, found, err = extras(run_cli, "-d", "pf/main.cf", "--scope", name)
        assert code == 0, err
        # reported where main.cf names the table, as every finding about it is
        assert found == [("198.51.100.7/32", ["pf/main.cf:1"])]
    code, out, _ = run_cli("diff", "-e", "exp.txt", "-d", "pf/main.cf", "--scope", "relays.cidr")
    assert "pf/relays.cidr:2: 198.51.100.7 x" in out


@pytest.mark.usefixtures("expected")
def test_unknown_scope_lists_the_objects(run_cli: RunCli, write: WriteFile) -> None:
    write("fw.rules", IPTABLES)
    write("fw.nft", NFT)
    code, _, err = extras(run_cli, "-d", "fw.rules", "--scope", "nope")
    assert code == 2
    assert "unknown scope 'nope'" in err
    assert "INPUT" in err and "SMTP" in err
    code, _, err = extras(run_cli, "-d", "fw.nft", "--scope", "nope")
    assert code == 2
    assert "filter/mail_v4" in err


@pytest.mark.usefixtures("expected")
def test_nftables_json_set_scope(run_cli: RunCli, write: WriteFile) -> None:
    fixture = Path(__file__).parent / "fixtures" / "firewall" / "nft_commands.nft.json"
    write("fw.json", fixture.read_bytes())
    code, found, err = extras(run_cli, "-d", "fw.json", "--scope", "partners")
    assert found, err
    assert {where for _, origins in found for where in origins} == {"fw.json:17"}
    assert not IPSpace.from_text([c for c, _ in found]) - IPSpace.from_text(["203.0.113.0/24"])

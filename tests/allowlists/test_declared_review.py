"""Cases where a declared ruleset could have been read as allowing what the real system
refuses: each must come out denied or conditional, never allowed."""

from __future__ import annotations

import json

from conftest import RunCli, WriteFile

HEAD = "*filter\n:INPUT DROP [0:0]\n"


def decision(run_cli: RunCli, address: str, *args: str) -> tuple[int, str]:
    code, out, _ = run_cli("explain", address, *args, "-o", "json")
    doc = json.loads(out)
    return code, doc["declared"][0]["decision"]


def test_a_list_set_with_unknown_members_is_conditional(run_cli: RunCli, write: WriteFile) -> None:
    ipset = (
        "create blockports hash:net,port family inet\n"
        "add blockports 10.0.0.0/8,tcp:25\n"
        "create blocked list:set size 8\n"
        "add blocked blockports\n"
        "add blocked undefinedset\n"
    )
    write("s.ipset", ipset)
    write("s.ipt", HEAD + "-A INPUT -m set --match-set blocked src -j DROP\n"
          "-A INPUT -p tcp -m tcp --dport 25 -j ACCEPT\nCOMMIT\n")  # fmt: skip
    assert decision(run_cli, "10.1.1.1", "-d", "s.ipt", "-d", "s.ipset") == (2, "conditional")


def test_to_of_the_other_family_leaves_destinations_unknown(
    run_cli: RunCli, write: WriteFile
) -> None:
    rule = "-A INPUT -s 10.0.0.0/8 -d 192.0.2.25/32 -p tcp -m tcp --dport 25 -j DROP\n"
    write("to.v4", "*filter\n:INPUT ACCEPT [0:0]\n" + rule + "COMMIT\n")
    assert decision(run_cli, "10.1.1.1", "-d", "to.v4", "--to", "2001:db8::25") == (
        2,
        "conditional",
    )
    assert decision(run_cli, "10.1.1.1", "-d", "to.v4", "--to", "192.0.2.25") == (1, "denied")
    gcp = [
        {"name": "d", "priority": 10, "sourceRanges": ["10.0.0.0/8"],
         "destinationRanges": ["192.0.2.25/32"], "denied": [{"IPProtocol": "tcp"}]},
        {"name": "a", "priority": 1000, "sourceRanges": ["0.0.0.0/0"],
         "allowed": [{"IPProtocol": "tcp"}]},
    ]  # fmt: skip
    write("gcp.json", json.dumps(gcp))
    code, verdict = decision(run_cli, "10.1.1.1", "-d", "gcp.json", "--to", "2001:db8::25")
    assert (code, verdict) == (2, "conditional")


def test_protocol_zero_means_every_protocol(run_cli: RunCli, write: WriteFile) -> None:
    for proto in ("0", "ip"):
        write("t.ipt", HEAD + f"-A INPUT -p {proto} -s 10.0.0.0/8 -j DROP\n"
              "-A INPUT -s 10.0.0.0/8 -j ACCEPT\nCOMMIT\n")  # fmt: skip
        assert decision(run_cli, "10.1.1.1", "-d", "t.ipt") == (1, "denied")
    write("t.ipt", HEAD + "-A INPUT -p 99 -s 10.0.0.0/8 -j DROP\n"
          "-A INPUT -s 10.0.0.0/8 -j ACCEPT\nCOMMIT\n")  # fmt: skip
    assert decision(run_cli, "10.1.1.1", "-d", "t.ipt") == (2, "conditional")


def test_an_unfollowed_include_makes_accepts_uncertain(run_cli: RunCli, write: WriteFile) -> None:
    write("inc.nft", 'include "/etc/nftables.d/*.nft"\n'
          "table inet f { chain input { type filter hook input priority 0; policy drop;"
          " tcp dport 25 accept } }\n")  # fmt: skip
    assert decision(run_cli, "10.1.1.1", "-d", "inc.nft") == (2, "conditional")


def test_nginx_address_checks_outside_allow_deny(run_cli: RunCli, write: WriteFile) -> None:
    write("ng.conf", "http { server { listen 80; location / { allow all;\n"
          "  if ($remote_addr = 10.1.1.1) { return 403; } } } }\n")  # fmt: skip
    assert decision(run_cli, "10.1.1.1", "-d", "ng.conf", "--format", "nginx") == (
        2,
        "conditional",
    )


def test_service_any_counts_every_protocol_and_port(run_cli: RunCli, write: WriteFile) -> None:
    """--service any: may this source open every connection? A drop of some ports denies it;
    an accept of some ports grants nothing; a jump of some traffic is followed for that traffic
    (a drop there denies)."""
    write(
        "any.ipt",
        "*filter\n:INPUT ACCEPT [0:0]\n:SUB - [0:0]\n"
        "-A INPUT -s 10.0.0.0/8 -p tcp -m tcp --dport 25 -j DROP\n"
        "-A INPUT -s 11.0.0.0/8 -p icmp -j DROP\n"
        "-A INPUT -s 12.0.0.0/8 -p tcp --dport 25 -j ACCEPT\n"
        "-A INPUT -s 12.0.0.0/8 -j DROP\n"
        "-A INPUT -s 14.0.0.0/8 -p udp -j SUB\n"
        "-A SUB -s 14.2.0.0/16 -j DROP\n"
        "COMMIT\n",
    )
    args = ("-d", "any.ipt", "--service", "any")
    assert decision(run_cli, "10.1.1.1", *args) == (1, "denied")
    assert decision(run_cli, "11.1.1.1", *args) == (1, "denied")
    assert decision(run_cli, "12.1.1.1", *args) == (1, "denied")  # the tcp/25 accept is not all
    assert decision(run_cli, "13.1.1.1", *args) == (0, "allowed")
    assert decision(run_cli, "14.1.1.1", *args) == (0, "allowed")  # SUB returns it: policy
    assert decision(run_cli, "14.2.1.1", *args) == (1, "denied")  # SUB drops its udp
    # and for one port, the same file reads as before
    assert decision(run_cli, "12.1.1.1", "-d", "any.ipt") == (0, "allowed")


def test_deep_nesting_is_a_clear_error(run_cli: RunCli, write: WriteFile) -> None:
    n = 400
    write("deep.nft", "table inet f {\n chain input {\n type filter hook input priority 0;"
          " policy drop;\n ip saddr 10.0.0.0/8 " + "jump { " * n + "accept" + " }" * n
          + "\n }\n}\n")  # fmt: skip
    code, _, err = run_cli("explain", "10.1.1.1", "-d", "deep.nft")
    assert code == 2 and "internal error" not in err


def test_azure_internet_is_not_the_private_ranges(run_cli: RunCli, write: WriteFile) -> None:
    rule = {"priority": 100, "access": "Allow", "direction": "Inbound", "protocol": "*",
            "sourcePortRange": "*", "destinationPortRange": "*",
            "destinationAddressPrefix": "*", "sourceAddressPrefix": "Internet"}  # fmt: skip
    deny = dict(rule, priority=200, access="Deny", sourceAddressPrefix="*")
    nsg = {"name": "n", "properties": {"securityRules": [
        {"name": "AllowInternet", "properties": rule},
        {"name": "DenyAll", "properties": deny},
    ]}}  # fmt: skip
    write("nsg.json", json.dumps(nsg))
    assert decision(run_cli, "203.0.113.1", "-d", "nsg.json")[1] == "allowed"
    assert decision(run_cli, "10.1.1.1", "-d", "nsg.json") == (2, "conditional")

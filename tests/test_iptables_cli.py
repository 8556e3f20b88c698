"""iptables-save and ip6tables-save exports through the command line: the family an export
speaks for, cut-short exports, and the rule ``explain`` names."""

from __future__ import annotations

import json

from conftest import RunCli, WriteFile

# An ip6tables-save export without its header comment: its only source is IPv4-mapped.
MAPPED6 = (
    "*filter\n:INPUT DROP [0:0]\n"
    "-A INPUT -s ::ffff:10.50.0.0/120 -p tcp -m tcp --dport 25 -j ACCEPT\n"
    "COMMIT\n"
)
DROP4 = "*filter\n:INPUT DROP [0:0]\n:FORWARD DROP [0:0]\n:OUTPUT ACCEPT [0:0]\nCOMMIT\n"


def test_a_mapped_source_in_an_ip6tables_export_allows_no_ipv4_sender(
    run_cli: RunCli, write: WriteFile
) -> None:
    write("fw6.rules", MAPPED6)
    write("fw4.rules", DROP4)
    write("nodes.txt", "10.50.0.7\n")
    code, out, err = run_cli("diff", "-e", "nodes.txt", "-d", "fw6.rules", "-d", "fw4.rules",
                             "-o", "json")  # fmt: skip
    doc = json.loads(out)
    assert code == 1, err
    assert [m["cidr"] for m in doc["missing"]] == ["10.50.0.7/32"]
    assert "fw6.rules:3: '::ffff:10.50.0.0/120' is IPv4-mapped IPv6" in err
    assert "does not cover the IPv4 sender 10.50.0.0/24" in err
    code, out, _ = run_cli("explain", "10.50.0.7", "-d", "fw6.rules", "-d", "fw4.rules")
    assert code != 0
    assert "allowed" not in out
    assert "fw4.rules: denied: fw4.rules:2: policy DROP of INPUT" in out
    # a later ordinary IPv6 source does not make the same export fail
    write("fw6.rules", MAPPED6.replace("COMMIT", "-A INPUT -s 2001:db8::/32 -j ACCEPT\nCOMMIT"))
    code, out, err = run_cli("diff", "-e", "nodes.txt", "-d", "fw6.rules", "-d", "fw4.rules",
                             "-o", "json")  # fmt: skip
    assert code == 1, err
    assert [m["cidr"] for m in json.loads(out)["missing"]] == ["10.50.0.7/32"]


def test_a_cut_short_export_fails_the_source(run_cli: RunCli, write: WriteFile) -> None:
    write("fw.rules", "*filter\n:INPUT ACCEPT [0:0]\n-A INPUT -s 192.0.2.0/24 -j DROP\n")
    write("nodes.txt", "198.51.100.0/24\n")
    code, _, err = run_cli("diff", "-e", "nodes.txt", "-d", "fw.rules")
    assert code == 2
    assert "fw.rules:1: table filter has no COMMIT" in err
    code, out, err = run_cli("explain", "198.51.100.7", "-d", "fw.rules")
    assert code == 2
    assert "policy ACCEPT" not in out

"""``auditor diff --layered``: a mail server's allowlist behind a host firewall. A connection must
get through each declared source; without the flag the declared sources are one allowlist split
across files (their union), which hides a firewall that drops what Postfix would accept."""

from __future__ import annotations

import ipaddress
import json
import random
from pathlib import Path

import jsonschema
import pytest
from conftest import RunCli, WriteFile

ROOT = Path(__file__).resolve().parents[1]
SCHEMA = json.loads((ROOT / "data" / "report.schema.json").read_text())

EXPECTED = """\
192.0.2.64/27
192.0.2.96/27
198.51.100.0/26
2001:db8:5e::/48
"""

# Postfix lets every expected relay in (and more)
MAIN_CF = """\
mynetworks = 127.0.0.0/8 [::1]/128 192.0.2.64/27 192.0.2.96/27 198.51.100.0/24
  [2001:db8:5e::]/48
smtpd_client_restrictions = permit_mynetworks, reject
"""

# the host firewall in front of it drops 198.51.100.0/26 (IPv4 only: an iptables export)
IPTABLES = """\
*filter
:INPUT DROP [0:0]
:FORWARD DROP [0:0]
:OUTPUT ACCEPT [0:0]
-A INPUT -i lo -j ACCEPT
-A INPUT -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT
-A INPUT -s 192.0.2.64/26 -p tcp -m tcp --dport 25 -j ACCEPT
COMMIT
"""

IP6TABLES = """\
*filter
:INPUT DROP [0:0]
:FORWARD DROP [0:0]
:OUTPUT ACCEPT [0:0]
-A INPUT -s 2001:db8:5e::/49 -p tcp -m tcp --dport 25 -j ACCEPT
COMMIT
"""


@pytest.fixture
def files(write: WriteFile) -> list[str]:
    write("exp.txt", EXPECTED)
    write("main.cf", MAIN_CF)
    write("fw.rules", IPTABLES)
    write("fw6.rules", IP6TABLES)
    return ["-e", "exp.txt", "-d", "main.cf", "-d", "fw.rules", "-d", "fw6.rules"]


def test_the_union_hides_the_firewall_and_layered_finds_it(
    run_cli: RunCli, files: list[str]
) -> None:
    code, out, _ = run_cli("diff", *files, "-o", "cidr")
    assert (code, out) == (0, "")  # main.cf alone lets everything in
    code, out, _ = run_cli("diff", *files, "--layered", "-o", "cidr")
    assert code == 1
    # 198.51.100.0/26 is dropped by iptables; the upper /49 of the /48 by ip6tables
    assert out.split() == ["198.51.100.0/26", "2001:db8:5e:8000::/49"]


def test_the_json_report_says_what_each_layer_lets_in(run_cli: RunCli, files: list[str]) -> None:
    code, out, _ = run_cli("diff", *files, "--layered", "-o", "json")
    assert code == 1
    doc = json.loads(out)
    jsonschema.validate(doc, SCHEMA)
    assert doc["options"]["layered"] is True
    assert doc["layers"] == [
        {
            "source": "main.cf",
            "families": ["ipv4", "ipv6"],
            "missing": [],
            "missing_addresses": {"ipv4": "0", "ipv6": "0"},
        },
        {
            "source": "fw.rules",
            "families": ["ipv4"],
            "missing": ["198.51.100.0/26"],
            "missing_addresses": {"ipv4": "64"},
        },
        {
            "source": "fw6.rules",
            "families": ["ipv6"],
            "missing": ["2001:db8:5e:8000::/49"],
            "missing_addresses": {"ipv6": str(2**79)},
        },
    ]
    # without the flag: no layers key, no layered option
    code, out, _ = run_cli("diff", *files, "-o", "json")
    doc = json.loads(out)
    assert "layers" not in doc and "layered" not in doc["options"]


def test_text_and_markdown_name_the_layer_that_drops(run_cli: RunCli, files: list[str]) -> None:
    _, out, _ = run_cli("diff", *files, "--layered")
    section = out.split("layers: a connection must get through each declared source\n")[1]
    lines = section.split("\n\n")[0].splitlines()
    assert lines == [
        "  main.cf (IPv4, IPv6): lets in every expected address",
        "  fw.rules (IPv4): does not let in 1 CIDR (IPv4: 64 addresses)",
        "    198.51.100.0/26",
        "  fw6.rules (IPv6): does not let in 1 CIDR (IPv6: 2^79 addresses)",
        "    2001:db8:5e:8000::/49",
    ]
    _, out, _ = run_cli("diff", *files, "--layered", "-o", "md")
    assert "## Layers" in out
    assert "- `fw.rules` (IPv4): does not let in 1 CIDR (IPv4: 64 addresses)" in out
    assert "  - `198.51.100.0/26`" in out


def test_the_rules_let_in_what_the_firewall_drops(run_cli: RunCli, files: list[str]) -> None:
    code, out, _ = run_cli("diff", *files, "--layered", "-r", "iptables", "-o", "json")
    assert code == 1
    [rules] = json.loads(out)["rules"]
    accepts = [line for line in rules["text"].splitlines() if line.startswith("-I INPUT")]
    assert [line.split()[3] for line in accepts] == ["198.51.100.0/26", "2001:db8:5e:8000::/49"]


def test_a_layer_that_lets_nothing_in_is_all_missing(
    run_cli: RunCli, write: WriteFile, files: list[str]
) -> None:
    write("closed.rules", "*filter\n:INPUT DROP [0:0]\nCOMMIT\n")
    code, out, _ = run_cli(
        "diff", "-e", "exp.txt", "-d", "main.cf", "-d", "closed.rules", "--layered", "-o", "cidr"
    )
    # IPv4 all dropped; IPv6 has only main.cf to say (closed.rules is an IPv4 export)
    assert code == 1
    assert out.split() == ["192.0.2.64/26", "198.51.100.0/26"]


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_layered_diff_agrees_with_explain_address_by_address(
    run_cli: RunCli, write: WriteFile, seed: int
) -> None:
    """explain decides one address through every source that has a say; diff --layered must
    call missing exactly the expected addresses explain says are not allowed."""
    rng = random.Random(seed)
    base = ipaddress.ip_network("10.20.0.0/20")
    subnets = list(base.subnets(new_prefix=26))
    expected = rng.sample(subnets, 24)
    first = rng.sample(subnets, 40)
    second = rng.sample(subnets, 40)
    write("e.txt", "\n".join(map(str, expected)) + "\n")
    write("a.txt", "\n".join(map(str, first)) + "\n")
    rules = "".join(f"-A INPUT -s {n} -p tcp -m tcp --dport 25 -j ACCEPT\n" for n in second)
    write("b.rules", f"*filter\n:INPUT DROP [0:0]\n{rules}COMMIT\n")
    args = ["-d", "a.txt", "-d", "b.rules"]
    code, out, _ = run_cli("diff", "-e", "e.txt", *args, "--layered", "-o", "json")
    missing = {ipaddress.ip_network(c["cidr"]) for c in json.loads(out)["missing"]}
    for net in expected:
        address = str(net[rng.randrange(net.num_addresses)])
        explained, _, _ = run_cli("explain", address, *args)
        is_missing = any(ipaddress.ip_address(address) in m for m in missing)
        assert explained == (1 if is_missing else 0), address
        assert is_missing == (net not in first or net not in second), address


def test_a_long_gap_is_cut_in_text_and_whole_in_json(run_cli: RunCli, write: WriteFile) -> None:
    nets = [f"10.1.{i}.0/24" for i in range(0, 50, 2)]  # 25 CIDRs, none adjacent
    write("e.txt", "\n".join(nets) + "\n")
    write("a.txt", "10.0.0.0/8\n")
    write("b.txt", "192.0.2.0/24\n")
    args = ["diff", "-e", "e.txt", "-d", "a.txt", "-d", "b.txt", "--layered"]
    _, out, _ = run_cli(*args)
    section = out.split("layers: ")[1].split("\n\n")[0].splitlines()
    assert section[2] == "  b.txt (IPv4, IPv6): does not let in 25 CIDRs (IPv4: 6400 addresses)"
    assert section[3:23] == [f"    {n}" for n in nets[:20]]
    assert section[23] == "    ... and 5 more (-o json lists all)"
    _, out, _ = run_cli(*args, "-o", "md")
    assert "  - ... and 5 more" in out
    _, out, _ = run_cli(*args, "-o", "json")
    assert json.loads(out)["layers"][1]["missing"] == nets

"""Rules from `auditor diff --rules` go where the declared ruleset decides, or say they cannot.

The kernel is the judge (tests/allowlists/netns.py): the declared ruleset is loaded in a network
namespace, the generated rules are applied on top of it, and a missing address must then
connect. Where no rule can let an address in, the rules say so and the run exits 2.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from tests.allowlists.netns import RulesetLoadError, kernel_verdicts, require
from tests.conftest import RunCli, WriteFile

from .helpers import Netns, command_rules, require_tool

# raw and mangle PREROUTING drop before filter INPUT is reached; an ACCEPT in raw ends only raw
RAW_V4 = """\
*raw
:PREROUTING ACCEPT [0:0]
:OUTPUT ACCEPT [0:0]
-A PREROUTING -s 10.50.0.0/24 -j DROP
COMMIT
*mangle
:PREROUTING ACCEPT [0:0]
:INPUT ACCEPT [0:0]
:FORWARD ACCEPT [0:0]
:OUTPUT ACCEPT [0:0]
:POSTROUTING ACCEPT [0:0]
-A PREROUTING -s 10.50.2.0/24 -p tcp -m tcp --dport 25 -j DROP
COMMIT
*filter
:INPUT DROP [0:0]
:FORWARD DROP [0:0]
:OUTPUT ACCEPT [0:0]
-A INPUT -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT
-A INPUT -s 10.50.0.0/16 -p tcp -m tcp --dport 25 -j ACCEPT
-A INPUT -s 10.60.0.0/24 -p tcp -m tcp --dport 25 -j ACCEPT
COMMIT
"""
RAW_EXPECTED = "10.50.0.0/24\n10.50.2.0/24\n10.60.0.0/24\n10.70.0.0/24\n"
RAW_MISSING = ["10.50.0.5", "10.50.2.5", "10.70.0.5"]

# no inet filter table: ip filter (prerouting and input), ip6 f6, and a second table whose
# policy-drop input chain also sees every packet
TABLES_NFT = """\
table ip filter {
	chain pre {
		type filter hook prerouting priority -150; policy accept;
		ip saddr 10.50.2.0/24 drop
	}
	chain input {
		type filter hook input priority 0; policy drop;
		ct state established,related accept
		ip saddr 10.60.0.0/24 tcp dport 25 accept
	}
}
table ip6 f6 {
	chain input {
		type filter hook input priority 0; policy drop;
		ct state established,related accept
		ip6 saddr fd00:60::/64 tcp dport 25 accept
	}
}
table inet other {
	chain input {
		type filter hook input priority 10; policy drop;
		ct state established,related accept
		ip saddr { 10.50.0.0/16, 10.60.0.0/24 } accept
		ip6 saddr fd00::/8 accept
	}
}
"""
TABLES_EXPECTED = "10.50.2.0/24\n10.60.0.0/24\n10.70.0.0/24\nfd00:60::/64\nfd00:70::/64\n"
TABLES_MISSING = ["10.50.2.5", "10.70.0.5", "fd00:70::5"]

# a drop on netdev ingress of the device the harness's packets arrive on (tests/allowlists/netns)
INGRESS_NFT = """\
table netdev edge {
	chain ing {
		type filter hook ingress device "vsrv" priority 0; policy accept;
		ip saddr 10.50.1.0/24 drop
	}
}
table inet filter {
	chain input {
		type filter hook input priority 0; policy drop;
		ct state established,related accept
		ip saddr 10.60.0.0/24 tcp dport 25 accept
	}
}
"""


def _rules(out: str, platform: str) -> str:
    report = json.loads(out)
    texts = [r["text"] for r in report["rules"] if r["platform"] == platform]
    assert len(texts) == 1, report["rules"]
    return str(texts[0])


def _restore_file(rules: str, family: int) -> str:
    """The iptables-restore file of one family, out of the rules text."""
    banner = f"# ===== IPv{family}: file for "
    start = rules.index(banner)
    end = rules.index("# ===== ", start + len(banner))
    return rules[start:end]


def _diff(run_cli: RunCli, exp: Path, dec: Path, platform: str) -> tuple[int, str, str]:
    code, out, err = run_cli(
        "diff", "-e", str(exp), "-d", str(dec), "--rules", platform, "-o", "json"
    )
    return code, _rules(out, platform), err


def test_iptables_rules_go_to_every_table_that_drops(
    run_cli: RunCli, write: WriteFile, tmp_path: Path
) -> None:
    require("iptables")
    declared = write("fw.v4", RAW_V4)
    exp = write("exp.txt", RAW_EXPECTED)
    code, rules, err = _diff(run_cli, exp, declared, "iptables")
    assert code == 1, err
    assert "cannot let in" not in err
    assert _diff(run_cli, exp, declared, "iptables")[1] == rules  # deterministic
    text = _restore_file(rules, 4)
    assert "*raw\n-I PREROUTING -s 10.50.0.0/24 " in text
    assert "*mangle\n-I PREROUTING -s 10.50.2.0/24 " in text
    assert "iptables -t raw -I PREROUTING -s 10.50.0.0/24 " in rules
    generated = write("generated.v4", text)

    before = kernel_verdicts({4: declared}, "iptables", 25, RAW_MISSING)
    assert not any(before.values()), before
    after = kernel_verdicts({4: declared}, "iptables", 25, RAW_MISSING, then={4: generated})
    assert all(after.values()), after


def test_nft_rules_use_the_tables_the_ruleset_has(run_cli: RunCli, write: WriteFile) -> None:
    require("nft")
    declared = write("fw.nft", TABLES_NFT)
    exp = write("exp.txt", TABLES_EXPECTED)
    code, rules, err = _diff(run_cli, exp, declared, "nftables")
    assert code == 1, err
    assert "inet filter" not in rules
    assert "insert rule ip filter pre ip saddr @auditor_v4_tcp_25 tcp dport 25 accept" in rules
    assert "insert rule ip6 f6 input ip6 saddr @auditor_v6_tcp_25 " in rules
    assert "insert rule inet other input ip saddr @auditor_v4_tcp_25 " in rules
    generated = write("generated.nft", rules)

    files = {4: declared, 6: declared}
    before = kernel_verdicts(files, "nft", 25, TABLES_MISSING)
    assert not any(before.values()), before
    try:
        after = kernel_verdicts(files, "nft", 25, TABLES_MISSING, then={4: generated})
    except RulesetLoadError as e:
        pytest.fail(f"the generated rules do not load on the ruleset they were made for: {e}")
    assert all(after.values()), after


def test_nft_rules_reach_a_netdev_ingress_drop(run_cli: RunCli, write: WriteFile) -> None:
    require("nft")
    declared = write("fw.nft", INGRESS_NFT)
    exp = write("exp.txt", "10.50.1.0/24\n10.60.0.0/24\n")
    code, rules, err = _diff(run_cli, exp, declared, "nftables")
    assert code == 1, err
    assert "cannot let in" not in err
    assert "insert rule netdev edge ing ip saddr @auditor_v4_tcp_25 " in rules
    assert "insert rule inet filter input ip saddr @auditor_v4_tcp_25 " in rules
    generated = write("generated.nft", rules)
    sources = ["10.50.1.5"]
    assert kernel_verdicts({4: declared}, "nft", 25, sources) == {"10.50.1.5": False}
    after = kernel_verdicts({4: declared}, "nft", 25, sources, then={4: generated})
    assert after == {"10.50.1.5": True}


def test_rules_for_another_platform_say_they_cannot_help(run_cli: RunCli, write: WriteFile) -> None:
    declared = write("fw.v4", RAW_V4)
    exp = write("exp.txt", RAW_EXPECTED)
    code, rules, err = _diff(run_cli, exp, declared, "nftables")
    assert code == 2, err
    assert "error: nftables rules cannot let in 10.50.0.0/24: the iptables ruleset" in err
    assert "(use --rules iptables)" in err
    assert "# WARNING: 3 missing CIDRs stay blocked even with these rules" in rules
    assert "insert rule" not in rules


def test_a_nat_chain_that_rewrites_the_destination_is_named(
    run_cli: RunCli, write: WriteFile
) -> None:
    declared = write(
        "fw.v4",
        "*nat\n:PREROUTING ACCEPT [0:0]\n:INPUT ACCEPT [0:0]\n:OUTPUT ACCEPT [0:0]\n"
        ":POSTROUTING ACCEPT [0:0]\n"
        "-A PREROUTING -s 10.50.0.0/24 -p tcp --dport 25 -j DNAT --to-destination 10.9.9.9\n"
        "COMMIT\n*filter\n:INPUT DROP [0:0]\n:FORWARD DROP [0:0]\n:OUTPUT ACCEPT [0:0]\nCOMMIT\n",
    )
    exp = write("exp.txt", "10.50.0.0/24\n")
    code, rules, err = _diff(run_cli, exp, declared, "iptables")
    assert code == 2, err
    assert "error: iptables rules cannot let in 10.50.0.0/24: nat PREROUTING" in err
    assert "# WARNING: 1 missing CIDR stays blocked even with these rules" in rules
    assert "*nat" not in rules  # no accept that would skip the rewrite
    assert "-I INPUT -s 10.50.0.0/24 " in rules  # the filter drop still needs one


def test_an_nft_nat_chain_is_named_and_the_filter_chain_still_gets_its_rule(
    run_cli: RunCli, write: WriteFile
) -> None:
    declared = write(
        "fw.nft",
        "table ip nat {\n chain prerouting {\n  type nat hook prerouting priority dstnat;"
        " policy accept;\n  ip saddr 10.50.0.0/24 tcp dport 25 dnat to 10.9.9.9\n }\n}\n"
        "table ip fw {\n chain input {\n  type filter hook input priority 0; policy drop;\n"
        " }\n}\n",
    )
    exp = write("exp.txt", "10.50.0.0/24\n10.70.0.0/24\n")
    code, rules, err = _diff(run_cli, exp, declared, "nftables")
    assert code == 2, err
    assert "error: nftables rules cannot let in 10.50.0.0/24: ip nat prerouting" in err
    assert "10.70.0.0/24" not in err
    assert "insert rule ip fw input ip saddr @auditor_v4_tcp_25 tcp dport 25 accept" in rules
    assert "ip nat" not in rules.split("# WARNING")[0]
    assert "add set ip nat" not in rules


@pytest.mark.parametrize(
    ("name", "ruleset", "platform"),
    [
        (
            "fw.v4",
            "*raw\n:PREROUTING ACCEPT [0:0]\n:OUTPUT ACCEPT [0:0]\n"
            "-A PREROUTING -s 192.0.2.0/24 -j NOTRACK\nCOMMIT\n"
            "*filter\n:INPUT DROP [0:0]\n:FORWARD DROP [0:0]\n:OUTPUT ACCEPT [0:0]\n"
            "-A INPUT -s 10.60.0.0/24 -p tcp -m tcp --dport 25 -j ACCEPT\nCOMMIT\n",
            "iptables",
        ),
        (
            "fw.nft",
            "table inet filter {\n chain input {\n  type filter hook input priority 0;"
            " policy drop;\n  ip saddr 10.60.0.0/24 tcp dport 25 accept\n }\n}\n",
            "nftables",
        ),
    ],
)
def test_where_the_input_chain_decides_the_rules_are_those_of_a_list(
    run_cli: RunCli, write: WriteFile, name: str, ruleset: str, platform: str
) -> None:
    """The usual case keeps the usual output, byte for byte, but for the line of iptables'
    header that names the rule denying the addresses today."""
    exp = write("exp.txt", "10.60.0.0/24\n10.70.0.0/24\n10.80.0.0/24\n")
    code, from_ruleset, err = _diff(run_cli, exp, write(name, ruleset), platform)
    assert code == 1, err
    code, from_list, err = _diff(run_cli, exp, write("list.txt", "10.60.0.0/24\n"), platform)
    assert code == 1, err
    decided = [line for line in from_ruleset.splitlines() if "; decided by " in line]
    if platform == "iptables":  # in the restore file's header and the commands' header
        pattern = rf"#   filter INPUT: 2 CIDRs; decided by \S*{re.escape(name)}:\d+: policy DROP"
        assert len(decided) == 2
        assert all(re.fullmatch(pattern + " of INPUT", line) for line in decided), decided
    else:
        assert decided == []
    kept = "\n".join(line for line in from_ruleset.splitlines() if line not in decided)
    assert kept.replace(name, "list.txt") == from_list.rstrip("\n")


@pytest.mark.parametrize("backend", ["", "-legacy"])
def test_the_multi_table_restore_file_passes_both_backends(
    run_cli: RunCli, write: WriteFile, netns: Netns, backend: str
) -> None:
    """``--test --noflush`` as the header says, and the commands, on the default and the legacy
    backend, after the declared export is loaded (the tables must exist)."""
    restore = require_tool(f"iptables{backend}-restore")
    declared = write("fw.v4", RAW_V4)
    loaded = netns.run([restore], stdin=RAW_V4)
    if loaded.returncode != 0:
        pytest.skip(f"{restore} cannot load the raw and mangle tables here: {loaded.stderr}")
    _, rules, _ = _diff(run_cli, write("exp.txt", RAW_EXPECTED), declared, "iptables")
    text = _restore_file(rules, 4)
    result = netns.run([restore, "--test", "--noflush"], stdin=text)
    assert result.returncode == 0, result.stderr
    program = f"iptables{backend}"
    for argv in command_rules(rules.split("# ===== IPv4: iptables commands =====")[1]):
        assert argv[0] == "iptables"
        done = netns.run([program, *argv[1:]])
        assert done.returncode == 0, (argv, done.stderr)
    saved = netns.run([f"{program}-save"], check=True).stdout
    assert "-A PREROUTING -s 10.50.0.0/24 -p tcp -m tcp --dport 25" in saved


def test_a_file_for_one_other_table_names_it(run_cli: RunCli, write: WriteFile) -> None:
    # only mangle PREROUTING drops the missing address; filter INPUT accepts everything
    declared = write(
        "mangle.v4",
        "*mangle\n:PREROUTING ACCEPT [0:0]\n:INPUT ACCEPT [0:0]\n:FORWARD ACCEPT [0:0]\n"
        ":OUTPUT ACCEPT [0:0]\n:POSTROUTING ACCEPT [0:0]\n"
        "-A PREROUTING -s 10.50.2.0/24 -j DROP\nCOMMIT\n"
        "*filter\n:INPUT ACCEPT [0:0]\n:FORWARD DROP [0:0]\n:OUTPUT ACCEPT [0:0]\nCOMMIT\n",
    )
    exp = write("exp.txt", "10.50.2.0/24\n")
    code, rules, err = _diff(run_cli, exp, declared, "iptables")
    assert code == 1, err
    text = _restore_file(rules, 4)
    assert "*mangle\n-I PREROUTING -s 10.50.2.0/24 " in text
    assert "*filter" not in text
    assert "empties every chain of the mangle table first." in text

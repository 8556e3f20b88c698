"""iptables with --scope SET: the missing addresses go into the ipset the export's ACCEPT rule
matches, proven by evaluating the export again; loaded in a kernel (ipset and iptables),
saved and audited again; and the cases where the set must not be used fall back to rules of
the tool's own, with a note that says why."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from auditor.cli import app

from .helpers import Netns, require_tool

RULES = """*filter
:INPUT DROP [0:0]
:FORWARD DROP [0:0]
:OUTPUT ACCEPT [0:0]
-A INPUT -i lo -j ACCEPT
-A INPUT -p tcp -m tcp --dport 25 -m set --match-set mail_v4 src -j ACCEPT
COMMIT
"""
SETS = """create mail_v4 hash:net family inet hashsize 1024 maxelem 65536
add mail_v4 192.0.2.0/24
add mail_v4 10.9.0.0/24
"""
EXPECTED = "192.0.2.0/24\n198.51.100.0/24\n203.0.113.9\n"


def _run(tmp_path: Path, rules: str, sets: str = SETS) -> tuple[int, Path, str]:
    (tmp_path / "fw.rules").write_text(rules)
    (tmp_path / "sets.ipset").write_text(sets)
    (tmp_path / "exp.txt").write_text(EXPECTED)
    out = tmp_path / "out"
    argv = ["diff", "-e", str(tmp_path / "exp.txt"), "-d", str(tmp_path / "fw.rules")]
    argv += ["-d", str(tmp_path / "sets.ipset"), "--scope", "mail_v4", "--rules", "iptables"]
    result = CliRunner().invoke(app, [*argv, "--output-dir", str(out)])
    return result.exit_code, out, result.output


def _statements(text: str) -> list[str]:
    return [line for line in text.splitlines() if line and not line.startswith("#")]


def test_the_missing_addresses_go_into_the_scoped_ipset(tmp_path: Path) -> None:
    code, out, output = _run(tmp_path, RULES)
    assert code == 1, output
    apply = (out / "iptables-v4-apply.ipset").read_text()
    assert _statements(apply) == [
        "add mail_v4 198.51.100.0/24 -exist",
        "add mail_v4 203.0.113.9/32 -exist",
    ]
    assert "fw.rules:6: -A INPUT -p tcp -m tcp --dport 25 -m set --match-set mail_v4" in apply
    assert "roll back: iptables-v4-rollback.ipset" in apply
    back = (out / "iptables-v4-rollback.ipset").read_text()
    assert _statements(back) == [
        "del mail_v4 198.51.100.0/24 -exist",
        "del mail_v4 203.0.113.9/32 -exist",
    ]
    assert not (out / "iptables-v4-apply.rules").exists()  # no iptables rule is needed


@pytest.mark.parametrize(
    ("old", "new", "why"),
    [
        (
            "-A INPUT -i lo -j ACCEPT",
            "-A INPUT -i lo -j ACCEPT\n-A INPUT -p tcp --dport 22 -m set --match-set mail_v4 src"
            " -j DROP",
            "does not match it as an accepted source",
        ),
        (
            "-A INPUT -i lo -j ACCEPT",
            "-A INPUT -i lo -j ACCEPT\n-A INPUT -s 198.51.100.0/24 -j DROP",
            "would still not let 1 of the IPv4 CIDRs in",
        ),
    ],
)
def test_when_the_set_cannot_take_them_rules_of_the_tools_own(
    tmp_path: Path, old: str, new: str, why: str
) -> None:
    code, out, output = _run(tmp_path, RULES.replace(old, new))
    assert code == 1, output
    rules = (out / "iptables-v4-apply.rules").read_text()
    assert "-I INPUT -s 198.51.100.0/24" in rules
    ipset = out / "iptables-v4-apply.ipset"
    if "still not" in why:
        assert why in ipset.read_text()
        assert _statements(ipset.read_text()) == ["add mail_v4 203.0.113.9/32 -exist"]
        assert "203.0.113.9" not in rules.split("*filter", 1)[1]
    else:
        assert why in output and not ipset.exists()
        assert "-I INPUT -s 203.0.113.9/32" in rules


def test_into_the_ipset_in_the_kernel_then_audited_again(tmp_path: Path, netns: Netns) -> None:
    require_tool("ipset")
    require_tool("iptables-restore")
    netns.run(["ipset", "restore"], stdin=SETS, check=True)
    netns.run(["iptables-restore"], stdin=RULES, check=True)
    code, out, output = _run(tmp_path, RULES)
    assert code == 1, output
    for kind, expect in (("apply", 0), ("rollback", 1)):
        text = (out / f"iptables-v4-{kind}.ipset").read_text()
        for _ in range(2):  # it can be loaded again
            netns.run(["ipset", "-exist", "restore"], stdin=text, check=True)
        saved_sets = netns.run(["ipset", "save"], check=True).stdout
        saved_rules = netns.run(["iptables-save"], check=True).stdout
        assert saved_rules.count("-j ACCEPT") == 2  # no rule was added
        (tmp_path / "fw.rules").write_text(saved_rules)
        (tmp_path / "sets.ipset").write_text(saved_sets)
        argv = ["diff", "-e", str(tmp_path / "exp.txt"), "-d", str(tmp_path / "fw.rules")]
        result = CliRunner().invoke(app, [*argv, "-d", str(tmp_path / "sets.ipset")])
        assert result.exit_code == expect, result.output


def test_the_ipset_save_is_an_input_of_the_report_and_the_rules(tmp_path: Path) -> None:
    """The sets resolve the export's references: their file is named with its SHA-256 in the
    reports (text, JSON, Markdown) and in every artifact's header."""
    import hashlib
    import json

    code, out, _ = _run(tmp_path, RULES)
    assert code == 1
    digest = hashlib.sha256(SETS.encode()).hexdigest()
    sets = str(tmp_path / "sets.ipset")
    for artifact in out.iterdir():
        assert f"# input: {sets} sha256:{digest}" in artifact.read_text()
    argv = ["diff", "-e", str(tmp_path / "exp.txt"), "-d", str(tmp_path / "fw.rules")]
    argv += ["-d", sets]
    text = CliRunner().invoke(app, argv).output
    assert f"with: {sets} sha256:{digest}" in text
    doc = json.loads(CliRunner().invoke(app, [*argv, "-o", "json"]).stdout)
    declared = [s for s in doc["inputs"] if s["role"] == "declared"]
    assert declared[0]["companions"] == [{"name": sets, "sha256": digest}]
    md = CliRunner().invoke(app, [*argv, "-o", "md"]).output
    assert f"| with | `{sets}` |" in md and digest in md

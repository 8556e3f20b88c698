"""nftables with --scope TABLE/SET: the missing addresses go into the set the declared ruleset
already accepts from, proven by evaluating the ruleset again; loaded in a kernel, exported and
audited again; and the cases where the set must not be used fall back to a set of the tool's
own, with a note that says why."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from auditor.cli import app

from .helpers import Netns, require_tool

RULESET = """table inet filter {
	set mail_v4 {
		type ipv4_addr
		flags interval
		elements = { 192.0.2.0/24, 10.9.0.0/24 }
	}
	chain input {
		type filter hook input priority filter; policy drop;
		iif "lo" accept
		ip saddr @mail_v4 tcp dport 25 accept
	}
}
"""
EXPECTED = "192.0.2.0/24\n198.51.100.0/24\n203.0.113.9\n"


def _rules(tmp_path: Path, ruleset: str, *extra: str) -> tuple[int, str]:
    (tmp_path / "rs.nft").write_text(ruleset)
    (tmp_path / "exp.txt").write_text(EXPECTED)
    out = tmp_path / "out"
    argv = ["diff", "-e", str(tmp_path / "exp.txt"), "-d", str(tmp_path / "rs.nft")]
    argv += ["--scope", "filter/mail_v4", "--rules", "nftables", "--output-dir", str(out), *extra]
    result = CliRunner().invoke(app, argv)
    text = (out / "nftables-all-apply.nft").read_text() if out.exists() else ""
    return result.exit_code, text


def _statements(text: str) -> list[str]:
    return [line for line in text.splitlines() if line and not line.startswith("#")]


def test_the_missing_addresses_go_into_the_scoped_set(tmp_path: Path) -> None:
    code, text = _rules(tmp_path, RULESET)
    assert code == 1
    assert _statements(text) == [
        "add element inet filter mail_v4 {",
        '\t198.51.100.0/24 comment "' + str(tmp_path / "exp.txt") + ':2",',
        '\t203.0.113.9/32 comment "' + str(tmp_path / "exp.txt") + ':3"',
        "}",
    ]
    assert "rs.nft:10: ip saddr @mail_v4 tcp dport 25 accept" in text
    rollback = (tmp_path / "out" / "nftables-all-rollback.nft").read_text()
    assert _statements(rollback) == [
        "delete element inet filter mail_v4 { 198.51.100.0/24, 203.0.113.9/32 }"
    ]
    assert not (tmp_path / "out" / "nftables-all-apply.sh").exists()  # nothing to insert


@pytest.mark.parametrize(
    ("change", "why"),
    [
        # the set is also used by a drop: an address in it is also kept out somewhere
        (
            ('iif "lo" accept', 'iif "lo" accept\n\t\tip saddr @mail_v4 tcp dport 22 drop'),
            "not used only as an accepted source",
        ),
        # without flags interval the set cannot hold a /24
        ("\t\tflags interval\n", "has no flags interval"),
        # a drop before the rule that uses the set: in the set, they would still be dropped
        (
            ('iif "lo" accept', 'iif "lo" accept\n\t\tip saddr 198.51.100.0/24 drop'),
            "would still not let 1 of the IPv4 CIDRs in",
        ),
    ],
)
def test_when_the_set_cannot_take_them_a_set_of_the_tools_own(
    tmp_path: Path, change: tuple[str, str] | str, why: str
) -> None:
    old, new = change if isinstance(change, tuple) else (change, "")
    ruleset = RULESET.replace(old, new, 1)
    if "flags interval" not in ruleset:
        ruleset = ruleset.replace(
            "elements = { 192.0.2.0/24, 10.9.0.0/24 }", "elements = { 192.0.2.1 }"
        )
    code, text = _rules(tmp_path, ruleset)
    assert code == 1
    assert why in text, text
    assert "insert rule inet filter input ip saddr @auditor_v4_tcp_25" in text
    own = text.split("add element inet filter auditor_v4_tcp_25 {", 1)[1].split("}")[0]
    if "still not" in why:  # the one it would let in goes into the set; the other does not
        assert "add element inet filter mail_v4 {\n\t203.0.113.9/32" in text
        assert "198.51.100.0/24" in own and "203.0.113.9" not in own
    else:
        assert "add element inet filter mail_v4" not in text
        assert "198.51.100.0/24" in own and "203.0.113.9/32" in own


def test_into_the_set_in_the_kernel_then_audited_again(tmp_path: Path, netns: Netns) -> None:
    require_tool("nft")
    netns.run(["nft", "-f", "-"], stdin=RULESET, check=True)
    exported = netns.run(["nft", "list", "ruleset"], check=True).stdout
    code, text = _rules(tmp_path, exported)
    assert code == 1 and "add element inet filter mail_v4 {" in text
    path = tmp_path / "out" / "nftables-all-apply.nft"
    for _ in range(2):  # it can be loaded again
        netns.run(["nft", "-c", "-f", str(path)], check=True)
        netns.run(["nft", "-f", str(path)], check=True)
    after = netns.run(["nft", "list", "ruleset"], check=True).stdout
    assert after.count("saddr @") == 1  # no rule was added
    (tmp_path / "rs.nft").write_text(after)
    argv = ["diff", "-e", str(tmp_path / "exp.txt"), "-d", str(tmp_path / "rs.nft")]
    result = CliRunner().invoke(app, argv)
    assert result.exit_code == 0, result.output
    back = tmp_path / "out" / "nftables-all-rollback.nft"
    netns.run(["nft", "-f", str(back)], check=True)
    (tmp_path / "rs.nft").write_text(netns.run(["nft", "list", "ruleset"], check=True).stdout)
    assert CliRunner().invoke(app, argv).exit_code == 1

"""The generators through the command line: `auditor rules` and `auditor diff --rules`."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from auditor.cli import app
from auditor.rules import GENERATORS

from .helpers import Netns, nft_elements, require_tool, restore_sources


@pytest.fixture
def cidrs(tmp_path: Path) -> Path:
    path = tmp_path / "nodes.txt"
    path.write_text("192.0.2.0/24\n2001:db8::/32\n198.51.100.7\n")
    return path


def test_rules_iptables(cidrs: Path) -> None:
    result = CliRunner().invoke(app, ["rules", "iptables", str(cidrs), "--service", "tcp/25"])
    assert result.exit_code == 0, result.output
    v4, v6 = result.stdout.split("# ===== IPv6: file")[0], result.stdout
    assert restore_sources(v4) == ["192.0.2.0/24", "198.51.100.7/32"]
    assert "ip6tables -I INPUT -s 2001:db8::/32 " in v6
    assert f"allowlist-auditor {cidrs}:1" in v4


def test_rules_nftables(cidrs: Path) -> None:
    result = CliRunner().invoke(app, ["rules", "nftables", str(cidrs), "--chain", "FORWARD"])
    assert result.exit_code == 0, result.output
    elements = nft_elements(result.stdout)
    assert [c for c, _ in elements["auditor_v4_tcp_25"]] == ["192.0.2.0/24", "198.51.100.7/32"]
    assert [c for c, _ in elements["auditor_v6_tcp_25"]] == ["2001:db8::/32"]
    assert "insert rule inet filter forward " in result.stdout


@pytest.mark.parametrize("platform", sorted(GENERATORS))
@pytest.mark.parametrize("chain", ["INPUT; rm -rf /", "A" * 32])
def test_a_bad_chain_is_a_usage_error(cidrs: Path, platform: str, chain: str) -> None:
    limit = GENERATORS.create(platform).max_name_len
    if len(chain) == 32 and not 0 < limit < 32 and platform in ("azure", "terraform-azure"):
        pytest.skip(f"{platform} takes names of up to {limit} characters")
    result = CliRunner().invoke(app, ["rules", platform, str(cidrs), "--chain", chain])
    assert result.exit_code == 2
    assert "chain" in result.output


@pytest.mark.parametrize("platform", ["iptables", "nftables"])
def test_diff_with_rules(tmp_path: Path, cidrs: Path, platform: str) -> None:
    declared = tmp_path / "allow.txt"
    declared.write_text("192.0.2.0/24\n")
    result = CliRunner().invoke(
        app,
        ["diff", "-e", str(cidrs), "-d", str(declared), "--rules", platform, "-o", "text"],
    )
    assert result.exit_code == 1, result.output
    start = "# ===== IPv4: file" if platform == "iptables" else "# allowlist-auditor: nftables"
    assert start in result.stdout
    rules = result.stdout[result.stdout.index(start) :]
    if platform == "iptables":
        assert restore_sources(rules.split("# ===== IPv6")[0]) == ["198.51.100.7/32"]
        assert "ip6tables -I INPUT -s 2001:db8::/32 " in rules
    else:
        elements = nft_elements(rules)
        assert [c for c, _ in elements["auditor_v4_tcp_25"]] == ["198.51.100.7/32"]
        assert [c for c, _ in elements["auditor_v6_tcp_25"]] == ["2001:db8::/32"]


def test_rules_output_file_is_written_and_kept_on_an_incomplete_source(
    tmp_path: Path, cidrs: Path
) -> None:
    out = tmp_path / "allow.nft"
    result = CliRunner().invoke(app, ["rules", "nft", str(cidrs), "--output-file", str(out)])
    assert result.exit_code == 0, result.output
    assert result.stdout == ""
    written = out.read_text()
    assert "192.0.2.0/24" in written and "2001:db8::/32" in written
    missing = tmp_path / "gone.txt"
    result = CliRunner().invoke(app, ["rules", "nft", str(missing), "--output-file", str(out)])
    assert result.exit_code == 2
    assert out.read_text() == written  # a failed run never replaces the file
    assert "keeps its previous content" in result.stderr


def test_an_iptables_output_file_holds_one_family_that_loads_as_it_says(
    cidrs: Path, tmp_path: Path, netns: Netns
) -> None:
    """The file named by --output-file is fed to iptables-restore as its header says: it holds
    the restore lines of one family only (the commands on stdout are not restore lines)."""
    both = tmp_path / "both.rules"
    result = CliRunner().invoke(app, ["rules", "iptables", str(cidrs), "--output-file", str(both)])
    assert result.exit_code == 2
    assert "load from separate files" in result.stderr
    assert "--family 4 --output-file" in result.stderr
    assert not both.exists()
    for fam, program in ((4, "iptables-restore"), (6, "ip6tables-restore")):
        require_tool(program)
        out = tmp_path / f"v{fam}.rules"
        argv = ["rules", "iptables", str(cidrs), "--family", str(fam), "--output-file", str(out)]
        result = CliRunner().invoke(app, argv)
        assert result.exit_code == 0, result.output
        text = out.read_text()
        assert f"Load with: {program} --noflush FILE" in text
        assert "=====" not in text and "iptables -I" not in text
        want = ["192.0.2.0/24", "198.51.100.7/32"] if fam == 4 else ["2001:db8::/32"]
        assert restore_sources(text) == want
        loaded = netns.run([program, "--noflush"], stdin=text)
        assert loaded.returncode == 0, loaded.stderr
        listed = netns.run([program.replace("-restore", "-save")], check=True).stdout
        assert [s.split("/")[0] in listed for s in want] == [True] * len(want)


def test_a_bad_family_is_a_usage_error(cidrs: Path) -> None:
    result = CliRunner().invoke(app, ["rules", "iptables", str(cidrs), "--family", "5"])
    assert result.exit_code == 2
    assert "invalid --family '5'" in result.stderr


def test_rules_from_a_saved_report_name_where_the_report_says_each_range_came_from(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    Path("exp.txt").write_text("192.0.2.0/24\n198.51.100.0/28\n")
    Path("allow.txt").write_text("192.0.2.0/24\n")
    diff = CliRunner().invoke(app, ["diff", "-e", "exp.txt", "-d", "allow.txt", "-o", "json"])
    assert diff.exit_code == 1
    Path("report.json").write_text(diff.stdout)
    result = CliRunner().invoke(app, ["rules", "iptables", "report.json"])
    assert result.exit_code == 0, result.output
    [rule] = [line for line in result.stdout.splitlines() if line.startswith("-I INPUT")]
    assert '--comment "allowlist-auditor report.json (from exp.txt:2)"' in rule
    # a hand-edited CIDR that is not one is still named by its place in the report
    doc = json.loads(diff.stdout)
    doc["missing"][0]["cidr"] = "198.51.100.0/33"
    Path("bad.json").write_text(json.dumps(doc))
    result = CliRunner().invoke(app, ["rules", "iptables", "bad.json"])
    assert result.exit_code == 2
    assert "bad.json" in result.stderr and "$.missing[0].cidr" in result.stderr

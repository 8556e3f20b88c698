"""The generators through the command line: `auditor rules` and `auditor diff --rules`."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from auditor.cli import app
from auditor.rules import GENERATORS

from .helpers import nft_elements, restore_sources


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

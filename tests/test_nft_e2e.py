"""nftables in the kernel, the whole loop: load a declared ruleset, export it with ``nft list
ruleset``, audit it, apply the generated rules with ``nft -f``, connect, export and audit again,
then roll back and see the connection stopped again. The mail server (tests/smtp_relayd.py) runs
inside the network namespace; ``auditor probe smtp`` is the client."""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest import RunCli, WriteFile
from test_seed_e2e import ALLOWED_B, ALLOWED_D, DROPPED_C, Namespace, mail_server_namespace

RULESET = """\
table inet filter {
  chain input {
    type filter hook input priority 0; policy drop;
    ct state established,related accept
    ip saddr { 192.0.2.64/27, 203.0.113.64/27 } tcp dport 25 accept
  }
}
"""
EXPECTED = "192.0.2.64/27\n198.51.100.0/27\n203.0.113.64/27\n"


@pytest.fixture
def netns() -> Iterator[Namespace]:
    if os.geteuid() != 0:
        pytest.skip("a network namespace with an nftables ruleset needs root")
    missing = [t for t in ("ip", "nft") if shutil.which(t) is None]
    if missing:
        pytest.skip(f"not installed: {', '.join(missing)}")

    def load(ns: Namespace) -> None:
        ns.check("nft", "-f", "-", stdin=RULESET)

    with mail_server_namespace(f"audnft{os.getpid()}", load) as ns:
        yield ns


def _outcomes(ns: Namespace) -> dict[str, str]:
    return {source: ns.probe(source)[1]["outcome"] for source in (ALLOWED_B, DROPPED_C, ALLOWED_D)}


def test_nftables_load_audit_apply_connect_reaudit_roll_back(
    netns: Namespace, run_cli: RunCli, write: WriteFile, tmp_path: Path
) -> None:
    write("exp.txt", EXPECTED)
    assert _outcomes(netns) == {ALLOWED_B: "ok", DROPPED_C: "timeout", ALLOWED_D: "ok"}

    (tmp_path / "fw.nft").write_text(netns.check("nft", "list", "ruleset"))
    argv = ["diff", "-e", "exp.txt", "-d", "fw.nft", "-r", "nft", "--output-dir", "out"]
    code, out, err = run_cli(*argv, "-o", "json")
    assert code == 1, err
    report = json.loads(out)
    assert [m["cidr"] for m in report["missing"]] == ["198.51.100.0/27"]
    [rules] = report["rules"]
    # the rules go into the ruleset's own input chain, named as it names it
    assert "insert rule inet filter input ip saddr @auditor_v4_tcp_25" in rules["text"]

    apply = tmp_path / "out" / "nftables-all-apply.nft"
    netns.check("nft", "-c", "-f", str(apply))
    netns.check("nft", "-f", str(apply))
    assert _outcomes(netns) == {ALLOWED_B: "ok", DROPPED_C: "ok", ALLOWED_D: "ok"}

    (tmp_path / "fw.nft").write_text(netns.check("nft", "list", "ruleset"))
    code, out, err = run_cli("diff", "-e", "exp.txt", "-d", "fw.nft", "-o", "json")
    assert code == 0, err
    assert json.loads(out)["missing"] == []

    netns.check("nft", "-f", str(tmp_path / "out" / "nftables-all-rollback.nft"))
    assert _outcomes(netns)[DROPPED_C] == "timeout"

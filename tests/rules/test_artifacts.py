"""Artifacts: the header every one starts with, --output-dir, --family, rollback that undoes
apply in a real kernel, --rules auto, and the usage errors of --prune and friends."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from typer.testing import CliRunner

from auditor.cli import app
from auditor.rules import RuleOptions, generator_for
from auditor.rules.artifacts import (
    XML,
    Artifact,
    Provenance,
    chunk_name,
    chunks,
    combined,
    header,
    write_dir,
)
from auditor.service import Service

from .helpers import Netns, block, require_tool, restore_sources

SHA = "0f" * 32


def _opts(**kw: object) -> RuleOptions:
    prov = Provenance("9.9.9", (("nodes.txt", SHA), ("allow.yaml", None)), "tcp/25")
    return RuleOptions(service=Service.parse("tcp/25"), provenance=prov, **kw)  # type: ignore[arg-type]


def test_the_header_says_what_from_which_inputs_and_how_to_apply_check_and_roll_back() -> None:
    gen = generator_for("iptables")
    arts = gen.checked_artifacts([block("192.0.2.0/24"), block("2001:db8::/32")], _opts())
    assert [(a.kind, a.family) for a in arts] == [
        ("apply", 4),
        ("rollback", 4),
        ("apply", 6),
        ("rollback", 6),
    ]
    head = header(arts[0], gen.name, _opts().provenance, arts).splitlines()
    assert head == [
        "# allowlist-auditor 9.9.9: iptables IPv4 apply, 1 CIDR, tcp/25.",
        "# It adds what lets the missing CIDRs in.",
        f"# input: nodes.txt sha256:{SHA}",
        "# input: allow.yaml",
        "# check: iptables-restore --test --noflush FILE",
        "# apply: iptables-restore --noflush FILE",
        "# roll back: iptables-v4-rollback.rules (apply it as this one)",
    ]
    rollback = header(arts[1], gen.name, _opts().provenance, arts)
    assert "It removes what the apply artifact added." in rollback
    assert "roll back:" not in rollback


def test_input_names_cannot_break_out_of_the_header() -> None:
    evil = "a\nrm -rf / #\r$(reboot)`id`;\u2028x"
    prov = Provenance("1", ((evil, None),), "tcp/25")
    art = Artifact("apply", 4, "body\n", "rules", "load FILE")
    text = header(art, "p", prov, [art])
    lines = text.splitlines()
    assert all(line.startswith("# ") for line in lines)
    assert "\nrm" not in text and "$(" not in text and "`" not in text
    xml = Artifact("apply", None, "<rule/>\n", "xml", "load FILE", syntax=XML)
    assert all(
        line.startswith("<!-- ") and line.endswith(" -->")
        for line in header(xml, "p", prov, [xml]).splitlines()
    )


def test_the_combined_text_has_a_separator_per_artifact() -> None:
    gen = generator_for("nftables")
    arts = gen.checked_artifacts([block("192.0.2.0/24")], _opts())
    text = combined(gen.name, arts, _opts().provenance)
    assert text.count("# ===== ") == 3  # the file, its script form, the rollback
    assert "# ===== IPv4 and IPv6 apply: nftables-all-apply.nft =====" in text
    assert "# ===== IPv4 and IPv6 apply: nftables-all-apply.sh =====" in text
    assert "delete element inet filter auditor_v4_tcp_25 { 192.0.2.0/24 }" in text


def test_write_dir_names_files_and_makes_scripts_executable(tmp_path: Path) -> None:
    arts = [
        Artifact("apply", 4, "echo a\n", "sh", "sh FILE", script=True, cidrs=1),
        Artifact("rollback", 4, "echo b\n", "sh", "sh FILE", script=True, cidrs=1),
        Artifact("apply", None, "x\n", "txt", "load FILE"),
    ]
    paths = write_dir(tmp_path / "out", "plat", arts, Provenance())
    assert [p.name for p in paths] == [
        "plat-v4-apply.sh",
        "plat-v4-rollback.sh",
        "plat-all-apply.txt",
    ]
    assert paths[0].read_text().startswith("#!/bin/sh\n# allowlist-auditor: plat IPv4 apply")
    assert os.access(paths[0], os.X_OK) and not os.access(paths[2], os.X_OK)


def test_chunks_and_their_names_are_deterministic() -> None:
    items = [f"10.0.{i}.0/24" for i in range(7)]
    assert [list(c) for c in chunks(items, 3)] == [items[0:3], items[3:6], items[6:7]]
    assert [list(c) for c in chunks(items, 0)] == [items]
    assert list(chunks([], 3)) == []
    assert [chunk_name("auditor-mail", i, 3) for i in range(3)] == [
        "auditor-mail",
        "auditor-mail-2",
        "auditor-mail-3",
    ]
    assert chunk_name("auditor-mail", 0, 1) == "auditor-mail"
    assert chunk_name("a" * 40, 11, 12, max_len=31) == "a" * 28 + "-12"


@pytest.fixture
def nodes(tmp_path: Path) -> Path:
    path = tmp_path / "nodes.txt"
    path.write_text("192.0.2.0/24\n198.51.100.7\n2001:db8::/32\n")
    return path


def test_rules_output_dir_writes_each_family_and_kind(nodes: Path, tmp_path: Path) -> None:
    out = tmp_path / "change-1234"
    result = CliRunner().invoke(app, ["rules", "iptables", str(nodes), "--output-dir", str(out)])
    assert result.exit_code == 0, result.output
    assert sorted(p.name for p in out.iterdir()) == [
        "iptables-v4-apply.rules",
        "iptables-v4-rollback.rules",
        "iptables-v6-apply.rules",
        "iptables-v6-rollback.rules",
    ]
    v4 = (out / "iptables-v4-apply.rules").read_text()
    assert f"# input: {nodes} sha256:" in v4
    assert restore_sources(v4) == ["192.0.2.0/24", "198.51.100.7/32"]
    assert "2001:db8" not in v4
    # --family keeps one family's files
    one = tmp_path / "v6"
    argv = ["rules", "iptables", str(nodes), "--family", "6", "--output-dir", str(one)]
    assert CliRunner().invoke(app, argv).exit_code == 0
    assert sorted(p.name for p in one.iterdir()) == [
        "iptables-v6-apply.rules",
        "iptables-v6-rollback.rules",
    ]


def test_iptables_rollback_undoes_apply_in_the_kernel(
    nodes: Path, tmp_path: Path, netns: Netns
) -> None:
    require_tool("iptables-restore")
    out = tmp_path / "out"
    argv = ["rules", "iptables", str(nodes), "--family", "4", "--output-dir", str(out)]
    assert CliRunner().invoke(app, argv).exit_code == 0
    before = netns.run(["iptables-save", "-t", "filter"], check=True).stdout
    for kind, present in (("apply", True), ("rollback", False)):
        text = (out / f"iptables-v4-{kind}.rules").read_text()
        netns.run(["iptables-restore", "--test", "--noflush"], stdin=text, check=True)
        netns.run(["iptables-restore", "--noflush"], stdin=text, check=True)
        now = netns.run(["iptables-save", "-t", "filter"], check=True).stdout
        assert ("-s 192.0.2.0/24" in now) is present
        assert ("-s 198.51.100.7/32" in now) is present
    rules = [line for line in now.splitlines() if line.startswith("-A")]
    assert rules == [line for line in before.splitlines() if line.startswith("-A")]


def test_nftables_rollback_empties_the_sets_in_the_kernel(
    nodes: Path, tmp_path: Path, netns: Netns
) -> None:
    require_tool("nft")
    netns.run(
        ["nft", "-f", "-"],
        stdin="table inet filter {\n chain input { type filter hook input priority 0; }\n}\n",
        check=True,
    )
    out = tmp_path / "out"
    assert (
        CliRunner().invoke(app, ["rules", "nft", str(nodes), "--output-dir", str(out)]).exit_code
        == 0
    )
    for kind in ("apply", "rollback"):
        path = out / f"nftables-all-{kind}.nft"
        netns.run(["nft", "-c", "-f", str(path)], check=True)
        netns.run(["nft", "-f", str(path)], check=True)
        listed = netns.run(["nft", "-j", "list", "set", "inet", "filter", "auditor_v4_tcp_25"])
        elems = json.loads(listed.stdout)["nftables"][1]["set"].get("elem", [])
        assert bool(elems) is (kind == "apply"), listed.stdout


def test_nftables_script_form_can_be_run_again_in_the_kernel(
    nodes: Path, tmp_path: Path, netns: Netns
) -> None:
    """The .sh form loads the sets and inserts each rule once, however often it runs; the
    .nft form, loaded twice, inserts its rule twice (why the script exists)."""
    require_tool("nft")
    ruleset = (
        "table inet filter {\n chain input { type filter hook input priority 0; policy drop; }\n}\n"
    )
    netns.run(["nft", "-f", "-"], stdin=ruleset, check=True)
    out = tmp_path / "out"
    argv = ["rules", "nft", str(nodes), "--output-dir", str(out)]
    assert CliRunner().invoke(app, argv).exit_code == 0

    def uses() -> list[str]:
        listed = netns.run(["nft", "list", "chain", "inet", "filter", "input"], check=True)
        return [line.strip() for line in listed.stdout.splitlines() if "saddr @" in line]

    for _ in range(3):
        netns.run(["sh", str(out / "nftables-all-apply.sh")], check=True)
        assert len(uses()) == 2, uses()  # one rule per family's set
    listed = netns.run(["nft", "-j", "list", "set", "inet", "filter", "auditor_v4_tcp_25"])
    elems = json.loads(listed.stdout)["nftables"][1]["set"].get("elem", [])
    assert elems
    netns.run(["nft", "-f", str(out / "nftables-all-apply.nft")], check=True)
    assert len(uses()) == 4
    header = (out / "nftables-all-apply.sh").read_text()
    assert "roll back: nftables-all-rollback.nft (apply it as its header says)" in header


@pytest.fixture
def layered(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> list[str]:
    monkeypatch.chdir(tmp_path)
    Path("exp.txt").write_text("192.0.2.0/26\n198.51.100.0/26\n")
    Path("main.cf").write_text("mynetworks = 192.0.2.0/26 198.51.100.0/26\n")
    Path("fw.rules").write_text(
        "*filter\n:INPUT DROP [0:0]\n"
        "-A INPUT -s 192.0.2.0/26 -p tcp -m tcp --dport 25 -j ACCEPT\nCOMMIT\n"
    )
    return ["diff", "-e", "exp.txt", "-d", "main.cf", "-d", "fw.rules"]


def test_rules_auto_writes_each_source_its_own_gap(layered: list[str]) -> None:
    result = CliRunner().invoke(app, [*layered, "--layered", "-r", "auto", "-o", "json"])
    assert result.exit_code == 1, result.output
    rules = json.loads(result.stdout)["rules"]
    assert [r["platform"] for r in rules] == ["postfix (main.cf)", "iptables (fw.rules)"]
    # main.cf lets every expected address in: nothing for Postfix to add
    assert "198.51.100.0/26" not in rules[0]["text"]
    assert restore_sources(rules[1]["text"]) == ["198.51.100.0/26"]


def test_rules_auto_names_a_source_whose_format_has_no_platform(layered: list[str]) -> None:
    Path("allow.yaml").write_text("mail:\n  - 192.0.2.0/26\n")
    argv = ["diff", "-e", "exp.txt", "-d", "allow.yaml", "-r", "auto", "-o", "json"]
    result = CliRunner().invoke(app, argv)
    assert result.exit_code == 1, result.output
    assert json.loads(result.stdout)["rules"] == []
    assert "info: allow.yaml: no rules for its format (yaml); --rules names one" in result.stderr


def test_rules_auto_output_dir_has_a_directory_per_source(
    layered: list[str], tmp_path: Path
) -> None:
    argv = [*layered, "--layered", "-r", "auto", "-r", "iptables", "--output-dir", "out", "-q"]
    result = CliRunner().invoke(app, argv)
    assert result.exit_code == 1, result.output
    dirs = sorted(p.name for p in (tmp_path / "out").iterdir())
    assert "iptables-fw.rules" in dirs and "iptables" in dirs
    assert (tmp_path / "out" / "iptables-fw.rules" / "iptables-v4-apply.rules").is_file()


@pytest.mark.parametrize(
    ("extra", "words"),
    [
        (["-r", "iptables", "--prune"], "no --scope was given"),
        (["--scope", "INPUT", "-r", "haproxy", "--prune"], "cannot remove entries yet"),
        (["--output-dir", "out"], "--output-dir is about rules, and no --rules was given"),
        (["--family", "4"], "--family is about rules, and no --rules was given"),
        (["-r", "iptables", "--family", "5"], "invalid --family '5'"),
    ],
)
def test_rule_options_that_cannot_be_honoured_are_usage_errors(
    layered: list[str], extra: list[str], words: str
) -> None:
    result = CliRunner().invoke(app, [*layered, *extra])
    assert result.exit_code == 2
    assert words in result.stderr
    assert not Path("out").exists()


def test_iptables_commands_can_be_run_twice_and_add_each_rule_once(
    nodes: Path, netns: Netns
) -> None:
    require_tool("iptables")
    result = CliRunner().invoke(app, ["rules", "iptables", str(nodes)])
    assert result.exit_code == 0
    script = result.stdout.split("# ===== IPv4: iptables commands =====")[1]
    script = script.split("# ===== IPv6")[0]
    for _ in range(2):
        done = netns.run(["bash", "-e", "-c", script])
        assert done.returncode == 0, done.stderr
    saved = netns.run(["iptables-save", "-t", "filter"], check=True).stdout
    assert saved.count("-s 192.0.2.0/24 ") == 1 and saved.count("-s 198.51.100.7/32 ") == 1


def test_one_family_on_stdout_pipes_into_iptables_restore(nodes: Path, netns: Netns) -> None:
    require_tool("iptables-restore")
    for fam, program in ((4, "iptables-restore"), (6, "ip6tables-restore")):
        argv = ["rules", "iptables", str(nodes), "--family", str(fam)]
        result = CliRunner().invoke(app, argv)
        assert result.exit_code == 0, result.output
        assert "=====" not in result.stdout and "iptables -C" not in result.stdout
        checked = netns.run([program, "--test", "--noflush"], stdin=result.stdout)
        assert checked.returncode == 0, checked.stderr


PRUNE_EXPORT = """\
*filter
:INPUT DROP [0:0]
:FORWARD DROP [0:0]
:OUTPUT ACCEPT [0:0]
-A INPUT -s 192.0.2.0/26 -p tcp -m tcp --dport 25 -j ACCEPT
-A INPUT -s 10.9.0.0/24 -p tcp -m tcp --dport 25 -m comment --comment "old relay" -j ACCEPT
-A INPUT -s 10.8.0.0/16 -p tcp -m tcp --dport 25 -j ACCEPT
-A FORWARD -s 10.7.0.0/24 -p tcp -m tcp --dport 25 -j ACCEPT
COMMIT
"""


def test_iptables_prune_deletes_only_wholly_extra_rules_of_the_scope_in_the_kernel(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, netns: Netns
) -> None:
    require_tool("iptables-restore")
    monkeypatch.chdir(tmp_path)
    netns.run(["iptables-restore"], stdin=PRUNE_EXPORT, check=True)
    Path("fw.rules").write_text(netns.run(["iptables-save"], check=True).stdout)
    Path("exp.txt").write_text("192.0.2.0/26\n10.8.1.0/24\n")
    argv = ["diff", "-e", "exp.txt", "-d", "fw.rules", "--scope", "INPUT", "-r", "iptables"]
    result = CliRunner().invoke(app, [*argv, "--prune", "--output-dir", "out", "-q"])
    assert result.exit_code == 0, result.output  # nothing missing; extras are not drift
    text = (tmp_path / "out" / "iptables-v4-prune.rules").read_text()
    assert "REMOVES the extra (stale) entries" in text
    assert [line for line in text.splitlines() if line.startswith("-D")] == [
        '-D INPUT -s 10.9.0.0/24 -p tcp -m tcp --dport 25 -m comment --comment "old relay"'
        " -j ACCEPT"
    ]
    assert "# kept fw.rules:" in text and "it also lets expected addresses in" in text
    netns.run(["iptables-restore", "--test", "--noflush"], stdin=text, check=True)
    netns.run(["iptables-restore", "--noflush"], stdin=text, check=True)
    saved = netns.run(["iptables-save"], check=True).stdout
    assert "-s 10.9.0.0/24" not in saved
    assert "-s 10.8.0.0/16" in saved and "-s 192.0.2.0/26" in saved and "-s 10.7.0.0/24" in saved
    # audited again: the scope's only extras are what the kept /16 holds beyond expected
    Path("fw.rules").write_text(saved)
    result = CliRunner().invoke(app, [*argv[:-2], "-o", "json"])
    extra = json.loads(result.stdout)["extra"]
    assert extra and all(e["cidr"].startswith("10.8.") for e in extra)


def test_iptables_prune_keeps_a_rule_when_the_export_changed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The -D lines need the table of each rule, read again from the export: when the file no
    longer holds what was audited, the rule is named as kept, never guessed."""
    from tests.reports.helpers import compare, load

    monkeypatch.chdir(tmp_path)
    Path("fw.rules").write_text(PRUNE_EXPORT)
    declared = load("fw.rules", "declared", PRUNE_EXPORT, "iptables-save")
    result = compare([load("exp.txt", "expected", "192.0.2.0/26\n")], [declared], scope=("INPUT",))
    prune = tuple(result.extra_blocks or ())
    opts = RuleOptions(Service.parse("tcp/25"), declared=(declared,), scope=("INPUT",), prune=prune)
    gen = generator_for("iptables")
    [art] = [a for a in gen.checked_artifacts([], opts) if a.kind == "prune"]
    assert "-D INPUT -s 10.9.0.0/24" in art.body
    Path("fw.rules").write_text(PRUNE_EXPORT + "# edited\n")
    [art] = [a for a in gen.checked_artifacts([], opts) if a.kind == "prune"]
    assert "-D " not in art.body
    assert "kept fw.rules:6: the export changed since it was read" in art.body


def test_iptables_prune_keeps_a_rule_whose_source_is_negated(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``! -s 10.0.0.0/8 -j ACCEPT`` lets every address but 10/8 in, the expected ones too:
    that 10/8 is wholly extra says nothing about what the rule lets in, so it is kept."""
    monkeypatch.chdir(tmp_path)
    Path("fw.rules").write_text(
        "*filter\n:INPUT DROP [0:0]\n"
        "-A INPUT -s 192.0.2.128/25 -j DROP\n"
        "-A INPUT -s 10.0.0.0/8 -p tcp -m tcp --dport 25 -j ACCEPT\n"
        "-A INPUT ! -s 10.0.0.0/8 -p tcp -m tcp --dport 25 -j ACCEPT\n"
        "COMMIT\n"
    )
    Path("exp.txt").write_text("192.0.2.0/24\n")
    argv = ["diff", "-e", "exp.txt", "-d", "fw.rules", "--scope", "INPUT", "-r", "iptables"]
    result = CliRunner().invoke(app, [*argv, "--prune", "--output-dir", "out", "-q"])
    assert result.exit_code == 1, result.output
    text = (tmp_path / "out" / "iptables-v4-prune.rules").read_text()
    assert [line for line in text.splitlines() if line.startswith("-D")] == [
        "-D INPUT -s 10.0.0.0/8 -p tcp -m tcp --dport 25 -j ACCEPT"
    ]
    assert "# kept fw.rules:5: its source is negated" in text


NFT_PRUNE = """\
table inet filter {
  set mail_v4 {
    type ipv4_addr
    flags interval
    elements = { 192.0.2.0/26, 10.9.0.0/24, 10.8.0.0/16, 10.6.0.1-10.6.0.5 }
  }
  chain input {
    type filter hook input priority 0; policy drop;
    ip saddr @mail_v4 tcp dport 25 accept
  }
}
"""


def test_nftables_prune_deletes_wholly_extra_elements_of_the_scoped_set_in_the_kernel(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, netns: Netns
) -> None:
    require_tool("nft")
    monkeypatch.chdir(tmp_path)
    netns.run(["nft", "-f", "-"], stdin=NFT_PRUNE, check=True)
    Path("fw.nft").write_text(netns.run(["nft", "list", "ruleset"], check=True).stdout)
    Path("exp.txt").write_text("192.0.2.0/26\n10.8.1.0/24\n")
    argv = ["diff", "-e", "exp.txt", "-d", "fw.nft", "--scope", "mail_v4", "-r", "nft"]
    result = CliRunner().invoke(app, [*argv, "--prune", "--output-dir", "out", "-q"])
    assert result.exit_code == 0, result.output
    text = (tmp_path / "out" / "nftables-all-prune.nft").read_text()
    assert [line for line in text.splitlines() if line.startswith("delete")] == [
        "delete element inet filter mail_v4 { 10.6.0.1-10.6.0.5, 10.9.0.0/24 }"
    ]
    assert "it also holds expected addresses" in text
    netns.run(["nft", "-c", "-f", "-"], stdin=text, check=True)
    netns.run(["nft", "-f", "-"], stdin=text, check=True)
    listed = netns.run(["nft", "list", "set", "inet", "filter", "mail_v4"], check=True).stdout
    assert "10.9.0.0/24" not in listed and "10.6.0.1" not in listed
    assert "192.0.2.0/26" in listed and "10.8.0.0/16" in listed


def test_an_incomplete_diff_writes_no_artifact_files(layered: list[str], tmp_path: Path) -> None:
    # IPv6 is expected and no declared source covers it: the run is incomplete (exit 2), so
    # no file may claim to be the complete change
    Path("exp.txt").write_text("192.0.2.0/26\n198.51.100.0/26\n2001:db8::/32\n")
    argv = ["diff", "-e", "exp.txt", "-d", "fw.rules", "-r", "auto", "--output-dir", "out"]
    result = CliRunner().invoke(app, [*argv, "-o", "text"])
    assert result.exit_code == 2, result.output
    assert "no declared source covers IPv6" in result.stderr
    assert not (tmp_path / "out").exists()
    assert "error: not written: out" in result.stderr
    # the same inputs made complete write the files
    Path("exp.txt").write_text("192.0.2.0/26\n198.51.100.0/26\n")
    assert CliRunner().invoke(app, [*argv, "-q"]).exit_code == 1
    assert (tmp_path / "out" / "iptables-v4-apply.rules").is_file()


@pytest.mark.parametrize("command", ["rules", "diff"])
def test_an_output_dir_that_cannot_be_made_is_an_error_with_a_hint(
    layered: list[str], command: str
) -> None:
    Path("taken").write_text("a file, not a directory\n")
    argv = [*layered, "--layered", "-r", "auto"]
    if command == "rules":
        argv = ["rules", "iptables", "exp.txt"]
    result = CliRunner().invoke(app, [*argv, "--family", "4", "--output-dir", "taken"])
    assert result.exit_code == 2
    assert "internal error" not in result.stderr
    assert "error: taken" in result.stderr
    assert "cannot write the rules:" in result.stderr
    assert Path("taken").read_text() == "a file, not a directory\n"


@pytest.mark.parametrize(
    ("platform", "export", "scope", "line"),
    [
        ("iptables", PRUNE_EXPORT, "INPUT", "-D INPUT -s 10.9.0.0/24 -p tcp -m tcp --dport 25"),
        ("nftables", NFT_PRUNE, "mail_v4", "delete element inet filter mail_v4 { 10.9.0.0/24,"),
    ],
)
def test_prune_is_on_standard_output_too(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    platform: str,
    export: str,
    scope: str,
    line: str,
) -> None:
    """Standard output holds every artifact --output-dir writes, the prune one included, with
    or without anything missing."""
    monkeypatch.chdir(tmp_path)
    fw = "fw.rules" if platform == "iptables" else "fw.nft"
    Path(fw).write_text(export)
    for expected in ("192.0.2.0/26\n10.8.1.0/24\n", "192.0.2.0/24\n10.8.1.0/24\n"):
        Path("exp.txt").write_text(expected)
        argv = ["diff", "-e", "exp.txt", "-d", fw, "--scope", scope]
        result = CliRunner().invoke(app, [*argv, "-r", platform, "--prune", "-o", "json"])
        assert result.exit_code in (0, 1), result.output
        [rules] = json.loads(result.stdout)["rules"]
        assert f"{platform}-" in rules["text"] and "-prune." in rules["text"]
        assert "REMOVES the extra (stale) entries" in rules["text"]
        assert line in rules["text"]


def test_no_prune_from_an_incomplete_run(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """An expected source that failed makes its addresses look extra: nothing is pruned then."""
    monkeypatch.chdir(tmp_path)
    Path("fw.rules").write_text(PRUNE_EXPORT)
    Path("exp.txt").write_text("192.0.2.0/26\n10.8.1.0/24\n")
    Path("more.txt").write_text("192.0.2.1\n10.9.0.0/33\n")  # partial: the /24 meant is unread
    argv = ["diff", "-e", "exp.txt", "-e", "more.txt", "-d", "fw.rules", "--scope", "INPUT"]
    result = CliRunner().invoke(app, [*argv, "-r", "iptables", "--prune", "-o", "text"])
    assert result.exit_code == 2, result.output
    assert "-D INPUT" not in result.stdout
    assert "info: no prune from an incomplete run" in result.stderr


def test_output_dir_removes_this_platforms_files_of_an_earlier_run(
    nodes: Path, tmp_path: Path
) -> None:
    out = tmp_path / "out"
    assert (
        CliRunner()
        .invoke(app, ["rules", "iptables", str(nodes), "--output-dir", str(out)])
        .exit_code
        == 0
    )
    (out / "notes.txt").write_text("mine\n")
    (out / "nftables-all-apply.nft").write_text("other platform\n")
    argv = ["rules", "iptables", str(nodes), "--family", "4", "--output-dir", str(out)]
    assert CliRunner().invoke(app, argv).exit_code == 0
    assert sorted(p.name for p in out.iterdir()) == [
        "iptables-v4-apply.rules",
        "iptables-v4-rollback.rules",
        "nftables-all-apply.nft",
        "notes.txt",
    ]


def test_iptables_prune_respects_the_scopes_table_and_names_unreadable_sources(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from auditor.rules.iptables_prune import prune_lines
    from tests.reports.helpers import compare, load

    monkeypatch.chdir(tmp_path)

    export = (
        "*filter\n:INPUT DROP [0:0]\n"
        "-A INPUT -s 10.9.0.0/24 -p tcp -m tcp --dport 25 -j ACCEPT\n"
        "-A INPUT -m iprange --src-range 10.5.0.1-10.5.0.9 -p tcp -m tcp --dport 25 -j ACCEPT\n"
        "COMMIT\n"
    )
    Path("fw.rules").write_text(export)
    declared = load("fw.rules", "declared", export, "iptables-save")
    result = compare([load("e.txt", "expected", "192.0.2.0/26\n")], [declared], scope=("INPUT",))
    prune = tuple(result.extra_blocks or ())
    # the rule is in filter INPUT: a scope of nat/INPUT does not reach it
    assert prune_lines(prune, [declared], ("nat/INPUT",)).deletes == {}
    for scope in ("INPUT", "filter/INPUT"):
        found = prune_lines(prune, [declared], (scope,))
        assert [d for _, d in found.deletes[4]] == [
            "-D INPUT -s 10.9.0.0/24 -p tcp -m tcp --dport 25 -j ACCEPT"
        ]
        assert found.kept[4] == [
            "kept fw.rules:4: its source is not a -s network this tool can read"
        ]


@pytest.mark.parametrize(
    ("use", "pruned"),
    [
        ("ip saddr @mail_v4 tcp dport 25 accept", True),
        ("ip saddr != @mail_v4 tcp dport 25 accept", False),
        ("ip saddr @mail_v4 drop", False),
        ("ip daddr @mail_v4 accept", False),
    ],
)
def test_nftables_prune_only_from_a_set_used_as_an_accepted_source(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, use: str, pruned: bool
) -> None:
    """In a set of addresses kept out (a drop, a negated match), an element is not an
    allowance: deleting it would let it in."""
    from auditor.rules.nft_prune import prune_lines
    from tests.reports.helpers import compare, load

    monkeypatch.chdir(tmp_path)
    ruleset = NFT_PRUNE.replace("ip saddr @mail_v4 tcp dport 25 accept", use)
    Path("fw.nft").write_text(ruleset)
    declared = load("fw.nft", "declared", ruleset, "nftables")
    expected = load("e.txt", "expected", "192.0.2.0/26\n")
    result = compare([expected], [declared], scope=("mail_v4",))
    deletes, kept = prune_lines(tuple(result.extra_blocks or ()), [declared], ("mail_v4",))
    assert bool(deletes) is pruned
    if not pruned:
        assert any("not used only as an accepted source" in k for k in kept), kept


@pytest.mark.parametrize("platform", ["ufw", "iptables", "nftables", "aws"])
def test_output_dir_leaves_standard_output_as_it_is(
    nodes: Path, tmp_path: Path, platform: str
) -> None:
    """The artifacts are made once for the text and the files: the text is the same as
    without --output-dir, and every file is a part of it."""
    plain = CliRunner().invoke(app, ["rules", platform, str(nodes)])
    out = tmp_path / "out"
    both = CliRunner().invoke(app, ["rules", platform, str(nodes), "--output-dir", str(out)])
    assert plain.exit_code == both.exit_code == 0, both.output
    assert both.stdout == plain.stdout
    files = sorted(out.iterdir())
    assert files
    if platform not in ("iptables", "nftables"):  # their text is their own combined form
        for path in files:
            body = path.read_text().removeprefix("#!/bin/sh\n")
            assert body in plain.stdout, path.name

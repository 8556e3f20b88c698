"""JunOS round trip: ``diff --rules auto`` on a declared configuration writes set commands for
the filter the chosen interface applies, placed before the term that discards the missing
addresses today; applied to the configuration the way the device stores them, the audit is
clean; with ``--scope PREFIXLIST --prune`` the extra entries are gone."""

from __future__ import annotations

import sys
from pathlib import Path

from auditor.allowlists import ReadContext, reader_for

CONFIG = """\
set system host-name edge
set firewall family inet filter MAIL-IN term block from source-address 198.51.100.0/24
set firewall family inet filter MAIL-IN term block then discard
set firewall family inet filter MAIL-IN term smtp from source-prefix-list RELAYS
set firewall family inet filter MAIL-IN term smtp from protocol tcp
set firewall family inet filter MAIL-IN term smtp from destination-port smtp
set firewall family inet filter MAIL-IN term smtp then accept
set firewall family inet6 filter MAIL6 term smtp from source-address 2001:db8:1::/48
set firewall family inet6 filter MAIL6 term smtp then accept
set policy-options prefix-list RELAYS 192.0.2.0/24
set policy-options prefix-list RELAYS 10.9.9.0/24
set policy-options prefix-list RELAYS 10.9.8.0/25
set interfaces ge-0/0/0 unit 0 family inet filter input MAIL-IN
set interfaces ge-0/0/0 unit 0 family inet6 filter input MAIL6
"""


def apply_set(config: str, commands: str) -> str:
    """What ``load set`` leaves in the configuration, as ``display set`` shows it, for the
    commands the generator writes: ``set`` adds a statement (one already there changes
    nothing), ``delete`` removes a statement and everything under it, ``insert P term A
    before term B`` moves A's statements to just before B's (Junos CLI, "insert": the order
    of terms is the order they are evaluated in)."""
    lines = [x for x in config.splitlines() if x.strip()]
    for cmd in commands.splitlines():
        if not cmd.strip() or cmd.startswith("#"):
            continue
        verb, _, path = cmd.partition(" ")
        if verb == "set":
            if cmd not in lines:
                lines.append(cmd)
        elif verb == "delete":
            lines = [x for x in lines if x != f"set {path}" and not x.startswith(f"set {path} ")]
        elif verb == "insert":
            head, _, anchor = path.partition(" before ")
            parent = head.rsplit(" term ", 1)[0]
            moving = [x for x in lines if x.startswith(f"set {head} ")]
            rest = [x for x in lines if not x.startswith(f"set {head} ")]
            at = next(k for k, x in enumerate(rest) if x.startswith(f"set {parent} {anchor} "))
            lines = rest[:at] + moving + rest[at:]
        else:
            raise AssertionError(f"the generator wrote a command the test cannot apply: {cmd}")
    return "\n".join(lines) + "\n"


def run(tmp_path: Path, *args: str) -> int:
    import subprocess

    proc = subprocess.run(  # noqa: S603 - the CLI under test
        [sys.executable, "-m", "auditor", "diff", *args],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        check=False,
    )
    assert proc.returncode in (0, 1), proc.stderr
    return proc.returncode


def test_rules_auto_apply_before_the_discarding_term_then_the_audit_is_clean(
    tmp_path: Path,
) -> None:
    (tmp_path / "nodes.txt").write_text(
        "192.0.2.0/24\n198.51.100.0/25\n203.0.113.0/24\n2001:db8:2::/48\n"
    )
    (tmp_path / "edge.conf").write_text(CONFIG)
    args = ["-e", "nodes.txt", "-d", "edge.conf", "--chain", "ge-0/0/0.0"]
    assert run(tmp_path, *args, "--rules", "auto", "--output-dir", "out") == 1
    v4 = (tmp_path / "out" / "junos-v4-apply.set").read_text()
    assert "# The term is inserted before term block (edge.conf:2)" in v4
    assert (
        "insert firewall family inet filter MAIL-IN term auditor-tcp25 before term block"
        in v4.splitlines()
    )
    v6 = (tmp_path / "out" / "junos-v6-apply.set").read_text()
    assert "set firewall family inet6 filter MAIL6 term auditor-tcp25 then accept" in v6
    assert "implicit discard (edge.conf:8)" in v6
    changed = apply_set(CONFIG, v4 + v6)
    (tmp_path / "edge.conf").write_text(changed)
    assert run(tmp_path, *args) == 0
    # the term sits before `block`, not after it
    order = [x.split(" term ")[1].split()[0] for x in changed.splitlines() if " term " in x]
    assert order.index("auditor-tcp25") < order.index("block")
    # the rollback restores the configuration's verdicts
    back = (tmp_path / "out" / "junos-v4-rollback.set").read_text()
    back += (tmp_path / "out" / "junos-v6-rollback.set").read_text()
    (tmp_path / "edge.conf").write_text(apply_set(changed, back))
    assert run(tmp_path, *args) == 1


def test_scope_prune_removes_the_extra_entries_of_the_prefix_list(tmp_path: Path) -> None:
    (tmp_path / "nodes.txt").write_text("192.0.2.0/24\n203.0.113.0/24\n")
    (tmp_path / "edge.conf").write_text(CONFIG)
    args = ["-e", "nodes.txt", "-d", "edge.conf", "--chain", "MAIL-IN", "--family", "4"]
    scoped = [*args, "--scope", "RELAYS", "--prune", "--rules", "auto", "--output-dir", "out"]
    assert run(tmp_path, *scoped) == 1
    out = tmp_path / "out"
    apply = (out / "junos-v4-apply.set").read_text()
    assert "set policy-options prefix-list RELAYS 203.0.113.0/24" in apply
    prune = (out / "junos-all-prune.set").read_text()
    assert [x for x in prune.splitlines() if not x.startswith("#")] == [
        "delete policy-options prefix-list RELAYS 10.9.8.0/25",
        "delete policy-options prefix-list RELAYS 10.9.9.0/24",
    ]
    changed = apply_set(CONFIG, apply + prune)
    (tmp_path / "edge.conf").write_text(changed)
    assert run(tmp_path, "-e", "nodes.txt", "-d", "edge.conf", "--chain", "MAIL-IN") == 0
    rs = reader_for("junos").parse(changed.encode(), ReadContext("edge.conf", "declared"))
    assert [e.text for e in rs.scope_entries if e.group == "RELAYS"] == [
        "192.0.2.0/24",
        "203.0.113.0/24",
    ]


def test_a_zone_pair_gets_no_filter_term(tmp_path: Path) -> None:
    import subprocess

    (tmp_path / "nodes.txt").write_text("192.0.2.0/24\n")
    (tmp_path / "srx.conf").write_text(
        "set security policies from-zone untrust to-zone trust policy p match application any\n"
        "set security policies from-zone untrust to-zone trust policy p then deny\n"
    )
    args = ["-e", "nodes.txt", "-d", "srx.conf", "--chain", "untrust:trust", "--rules", "auto"]
    proc = subprocess.run(  # noqa: S603 - the CLI under test
        [sys.executable, "-m", "auditor", "diff", *args],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        check=False,
    )
    assert proc.returncode == 2
    assert "zone pair untrust:trust" in proc.stderr and "firewall filter" not in proc.stdout


def test_a_term_name_that_cannot_be_written_safely_is_refused(tmp_path: Path) -> None:
    import subprocess

    # a quoted term name may hold a newline (a backslash before it): written as it is, the
    # rest of the name would be a command of its own in the loaded file
    hostile = (
        "firewall { family inet { filter MAIL-IN {\n"
        '  term "block\\\nset firewall family inet filter MAIL-IN term x then accept" {\n'
        "    from { source-address 198.51.100.0/24; } then discard; } } } }\n"
        "interfaces { ge-0/0/0 { unit 0 { family inet { filter { input MAIL-IN; } } } } }\n"
    )
    (tmp_path / "nodes.txt").write_text("198.51.100.9\n")
    (tmp_path / "edge.conf").write_text(hostile)
    args = ["-e", "nodes.txt", "-d", "edge.conf", "--chain", "ge-0/0/0.0", "--rules", "auto"]
    proc = subprocess.run(  # noqa: S603 - the CLI under test
        [sys.executable, "-m", "auditor", "diff", *args],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        check=False,
    )
    assert proc.returncode == 2
    assert "term x then accept" not in proc.stdout
    assert "cannot be written" in proc.stderr and "--chain FILTER:TERM" in proc.stderr

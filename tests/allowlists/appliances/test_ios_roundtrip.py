"""The IOS round trip: ``auditor diff --rules auto`` on a declared IOS configuration writes
entries into the access list the ``--chain`` interface binds, ahead of the entry that denies
the missing addresses today; applied to the configuration as IOS stores them, the audit
passes; with ``--scope GROUP --prune``, the prune applied leaves no extra in the group.

The applier below does what IOS does for exactly the commands generated ("IP Access List
Entry Sequence Numbering", Cisco IOS XE Security Configuration Guide: ``SEQ permit ...`` in
access-list configuration mode inserts the entry at that number, ``no SEQ`` removes it,
``ip access-list resequence NAME START STEP`` renumbers the entries in order; an IPv6 entry
takes ``sequence SEQ`` at its end; "Object Groups for ACLs": ``no MEMBER`` in
``object-group network`` mode removes the member). IOS stores ``A 0.0.0.0`` as ``host A``.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path

from conftest import RunCli, WriteFile

CONFIG = """\
hostname edge
!
object-group network MAILERS
 host 192.0.2.10
 198.51.100.0 255.255.255.0
 range 203.0.113.5 203.0.113.9
!
interface GigabitEthernet0/0
 ip address 10.0.0.1 255.255.255.0
 ip access-group OUTSIDE_IN in
 ipv6 traffic-filter OUTSIDE6 in
!
interface GigabitEthernet0/1
 ip access-group INSIDE_IN in
!
ip access-list extended INSIDE_IN
 10 permit ip any any
ip access-list extended OUTSIDE_IN
 10 permit tcp any any eq 22
 20 deny tcp host 198.51.100.7 any eq smtp
 30 permit tcp object-group MAILERS any eq smtp
 40 deny ip any any log
ipv6 access-list OUTSIDE6
 permit tcp 2001:db8:1::/48 any eq smtp sequence 10
 deny ipv6 any any sequence 20
"""
EXPECTED = "192.0.2.10\n198.51.100.0/24\n198.18.0.0/24\n2001:db8:1::/48\n2001:db8:2::/48\n"


@dataclass
class Block:
    head: str
    children: list[str] = field(default_factory=list)
    entries: dict[int, str] = field(default_factory=dict)
    v6: bool = False
    acl: bool = False


def _norm(text: str) -> str:
    text = " ".join(text.split())
    return re.sub(r"(\d+\.\d+\.\d+\.\d+) 0\.0\.0\.0", r"host \1", text)


def load(config: str) -> list[Block]:
    blocks: list[Block] = []
    for raw in config.splitlines():
        if not raw.strip() or raw.startswith("!"):
            continue
        if raw[0] != " ":
            acl = re.match(r"(ip access-list (standard|extended)|ipv6 access-list) \S+$", raw)
            blocks.append(Block(raw, acl=bool(acl), v6=raw.startswith("ipv6")))
            continue
        block = blocks[-1]
        if not block.acl:
            block.children.append(raw.strip())
            continue
        m = re.fullmatch(r"\s*(\d+) (.*)", raw) or re.fullmatch(r"\s*(.*) sequence (\d+)", raw)
        assert m is not None, raw
        seq, text = (m.group(1), m.group(2)) if raw.strip()[0].isdigit() else m.group(2, 1)
        block.entries[int(seq)] = _norm(text)
    return blocks


def dump(blocks: list[Block]) -> str:
    out = []
    for b in blocks:
        out.append(b.head)
        out += [f" {c}" for c in b.children]
        for seq in sorted(b.entries):
            text = b.entries[seq]
            out.append(f" {text} sequence {seq}" if b.v6 else f" {seq} {text}")
        out.append("!")
    return "\n".join(out) + "\n"


def apply(config: str, commands: str) -> str:
    """What IOS does with exactly the commands the generator writes."""
    blocks = load(config)
    by_head = {b.head: b for b in blocks}
    context: Block | None = None
    for raw in commands.splitlines():
        line = raw.strip()
        if not line or line.startswith("!"):
            continue
        if line == "exit":
            context = None
            continue
        m = re.fullmatch(r"(ip|ipv6) access-list resequence (\S+) (\d+) (\d+)", line)
        if m:
            target = next(b for b in blocks if b.acl and b.head.split()[-1] == m.group(2))
            start, step = int(m.group(3)), int(m.group(4))
            ordered = [target.entries[k] for k in sorted(target.entries)]
            target.entries = {start + step * k: t for k, t in enumerate(ordered)}
            continue
        if raw[0] != " ":
            context = by_head.get(line)
            assert context is not None, f"no {line!r} in the configuration"
            continue
        assert context is not None, raw
        if line.startswith("no "):
            what = line[3:]
            if context.acl:
                m = re.fullmatch(r"(?:sequence )?(\d+)", what)
                if m:
                    del context.entries[int(m.group(1))]
                else:
                    [seq] = [k for k, t in context.entries.items() if t == _norm(what)]
                    del context.entries[seq]
            else:
                context.children.remove(what)
            continue
        m = re.fullmatch(r"(\d+) (.*)", line) or re.fullmatch(r"(.*) sequence (\d+)", line)
        assert m is not None and context.acl, raw
        seq, text = (m.group(1), m.group(2)) if line[0].isdigit() else m.group(2, 1)
        assert int(seq) not in context.entries, f"% Duplicate sequence number {seq}"
        context.entries[int(seq)] = _norm(text)
    return dump(blocks)


def artifacts(run_cli: RunCli, out: str, *more: str) -> tuple[int, dict[str, str]]:
    args = ["diff", "-e", "exp.txt", "-d", "edge.cfg", "--chain", "Gi0/0", "--rules", "auto"]
    code, stdout, stderr = run_cli(*args, *more, "--output-dir", out, "-q")
    found = {p.name: p.read_text() for p in Path(out).glob("*.txt")} if Path(out).is_dir() else {}
    return code, found


def audit(run_cli: RunCli, *more: str) -> tuple[int, dict[str, object]]:
    code, out, err = run_cli(
        "diff", "-e", "exp.txt", "-d", "edge.cfg", "--chain", "Gi0/0", "-o", "json", *more
    )
    return code, json.loads(out)


def test_round_trip_entries_ahead_of_the_deny_then_prune(run_cli: RunCli, write: WriteFile) -> None:
    write("edge.cfg", CONFIG)
    write("exp.txt", EXPECTED)
    code, _ = audit(run_cli)
    assert code == 1
    code, arts = artifacts(run_cli, "out1")
    assert code == 1
    v4, v6 = arts["ios-v4-apply.txt"], arts["ios-v6-apply.txt"]
    # into the list bound to Gi0/0, ahead of the deny of 198.51.100.7 (line 20, seq 20)
    assert "ip access-list extended OUTSIDE_IN" in v4
    assert "ahead of edge.cfg:20: access-list OUTSIDE_IN: 20 deny tcp host 198.51.100.7" in v4
    assert re.search(r"^ 1[1-9] permit tcp 198.51.100.7 0.0.0.0 any eq 25$", v4, re.M), v4
    assert "ahead of edge.cfg:25: access-list OUTSIDE6: deny ipv6 any any sequence 20" in v6
    config = apply(apply(CONFIG, v4), v6)
    write("edge.cfg", config)
    code, report = audit(run_cli)
    assert code == 0, report
    # the rollback undoes it
    back = apply(apply(config, arts["ios-v4-rollback.txt"]), arts["ios-v6-rollback.txt"])
    assert load(back) == load(CONFIG)
    # the extras of the group (the range 203.0.113.5-9) are pruned
    code, report = audit(run_cli, "--scope", "MAILERS")
    assert code == 0 and report["extra"], report
    code, arts = artifacts(run_cli, "out2", "--scope", "MAILERS", "--prune")
    prune = arts["ios-v4-prune.txt"]
    assert "object-group network MAILERS\n no range 203.0.113.5 203.0.113.9\nexit" in prune
    write("edge.cfg", apply(config, prune))
    code, report = audit(run_cli, "--scope", "MAILERS")
    assert code == 0 and report["extra"] == [], report


def test_no_free_number_renumbers_first(run_cli: RunCli, write: WriteFile) -> None:
    tight = CONFIG.replace(
        " 10 permit tcp any any eq 22\n 20 deny", " 1 permit tcp any any eq 22\n 2 deny"
    )
    tight = tight.replace(" 30 permit tcp object", " 3 permit tcp object").replace(
        " 40 deny ip", " 4 deny ip"
    )
    write("edge.cfg", tight)
    write("exp.txt", "192.0.2.10\n198.51.100.0/24\n198.18.0.0/24\n2001:db8:1::/48\n")
    code, arts = artifacts(run_cli, "out")
    v4 = arts["ios-v4-apply.txt"]
    assert "ip access-list resequence OUTSIDE_IN 30 30" in v4, v4
    write("edge.cfg", apply(tight, v4))
    code, report = audit(run_cli)
    assert code == 0, report
    # the entry denied before is still after the new ones, the order otherwise kept
    entries = next(b for b in load(apply(tight, v4)) if b.head.endswith("OUTSIDE_IN")).entries
    texts = [entries[k] for k in sorted(entries)]
    assert texts[0] == "permit tcp any any eq 22"
    assert texts.index("deny tcp host 198.51.100.7 any eq smtp") == 3


def test_a_list_scope_prune_removes_wholly_extra_entries_by_number(
    run_cli: RunCli, write: WriteFile
) -> None:
    # the scope is the access list: its permit entries for the service are its members, and
    # `no SEQ` removes one; the entry whose group also holds expected addresses (seq 30, the
    # range in MAILERS is extra, 192.0.2.10 is not) is kept whole
    config = CONFIG.replace(
        " 40 deny ip any any log\n",
        " 35 permit tcp 198.18.7.0 0.0.0.255 any eq smtp\n"
        " 36 permit tcp host 198.18.9.9 any eq 22\n"
        " 40 deny ip any any log\n",
    ).replace(
        " deny ipv6 any any sequence 20\n",
        " permit tcp 2001:db8:dead::/48 any eq smtp sequence 15\n deny ipv6 any any sequence 20\n",
    )
    write("edge.cfg", config)
    write("exp.txt", "192.0.2.10\n198.51.100.0/24\n2001:db8:1::/48\n")
    code, report = audit(run_cli, "--scope", "OUTSIDE_IN", "--scope", "OUTSIDE6")
    assert code == 1, report  # 198.51.100.7 is denied at 20
    assert {e["cidr"] for e in report["extra"]} >= {"198.18.7.0/24", "2001:db8:dead::/48"}
    code, arts = artifacts(
        run_cli, "out", "--scope", "OUTSIDE_IN", "--scope", "OUTSIDE6", "--prune"
    )
    v4, v6 = arts["ios-v4-prune.txt"], arts["ios-v6-prune.txt"]
    assert [x for x in v4.splitlines() if not x.startswith("!")] == [
        "ip access-list extended OUTSIDE_IN",
        " no 35",
        "exit",
    ], v4
    assert "ipv6 access-list OUTSIDE6\n no sequence 15\nexit" in v6
    assert "! kept: edge.cfg:21: 203.0.113.5/32 is extra, its entry not" in v4
    pruned = apply(apply(config, v4), v6)
    write("edge.cfg", pruned)
    code, report = audit(run_cli, "--scope", "OUTSIDE_IN", "--scope", "OUTSIDE6")
    assert [m["cidr"] for m in report["missing"]] == ["198.51.100.7/32"], report
    cidrs = {e["cidr"] for e in report["extra"]}
    assert "198.18.7.0/24" not in cidrs and "2001:db8:dead::/48" not in cidrs
    assert "203.0.113.5/32" in cidrs or any(c.startswith("203.0.113.") for c in cidrs)
    entries = next(b for b in load(pruned) if b.head.endswith("OUTSIDE_IN")).entries
    assert 30 in entries and 36 in entries and 35 not in entries

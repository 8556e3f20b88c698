"""The FortiOS round trip: ``auditor diff --rules auto`` on a declared FortiGate configuration
writes rules in the configuration's own terms; applied to the configuration the way the
FortiGate stores them, and read back, nothing is missing; with ``--scope GROUP --prune`` the
extras are gone.

The applier below does what the FortiOS CLI does for exactly the commands the generator
writes [FortiOS CLI reference, "CLI command syntax" and "config firewall policy": ``config``
enters a table, ``edit`` opens an entry (``edit 0``: a new one with the next free id, the
highest plus one), ``set`` replaces a setting, ``append`` adds to a list, ``unselect`` removes
from it, ``delete`` removes an entry, ``move A before B`` reorders the list, ``next``/``end``
leave], and writes the result as ``show full-configuration`` prints it.
"""

from __future__ import annotations

import shlex
from pathlib import Path

import pytest
from conftest import RunCli, WriteFile

Table = dict[str, dict[str, list[list[str]]]]
"""path -> entry name -> settings (the words after ``set``), in order."""


def load(text: str) -> Table:
    tables: Table = {}
    path, entry = "", ""
    for raw in text.splitlines():
        words = shlex.split(raw, comments=False) if raw.strip() else []
        if not words or words[0].startswith("#"):
            continue
        apply_words(tables, words, state := [path, entry])
        path, entry = state
    return tables


def apply_words(tables: Table, words: list[str], state: list[str]) -> None:
    path, entry = state
    verb, args = words[0], words[1:]
    if verb == "config":
        if args[:1] == ["vdom"]:
            raise AssertionError("VDOM configurations are not applied here")
        path = " ".join(args)
        tables.setdefault(path, {})
    elif verb == "edit":
        table = tables[path]
        entry = args[0]
        if entry == "0":
            entry = str(max((int(k) for k in table if k.isdigit()), default=0) + 1)
        table.setdefault(entry, [])
    elif verb == "next":
        entry = ""
    elif verb == "end":
        path, entry = "", ""
    elif verb == "set":
        settings = tables[path][entry]
        settings[:] = [s for s in settings if s[0] != args[0]] + [args]
    elif verb in ("append", "unselect"):
        settings = tables[path][entry]
        old = next((s for s in settings if s[0] == args[0]), [args[0]])
        if verb == "append":
            values = old[1:] + [v for v in args[1:] if v not in old[1:]]
        else:
            values = [v for v in old[1:] if v not in args[1:]]
        settings[:] = [s for s in settings if s[0] != args[0]] + [[args[0], *values]]
    elif verb == "delete":
        # FortiOS refuses to delete an entry another entry still uses ("used by other
        # entries"), and the script goes on
        used = any(
            args[0] in setting[1:]
            for entries in tables.values()
            for settings in entries.values()
            for setting in settings
        )
        if not used:
            del tables[path][args[0]]
    elif verb == "move":
        table = tables[path]
        moved = table.pop(args[0])
        items = list(table.items())
        at = [k for k, _ in items].index(args[2]) + (args[1] == "after")
        items.insert(at, (args[0], moved))
        tables[path] = dict(items)
    else:
        raise AssertionError(f"the applier does not know {verb!r}: {words}")
    state[:] = [path, entry]


def render(tables: Table) -> str:
    out = []
    for path, entries in tables.items():
        out.append(f"config {path}")
        for name, settings in entries.items():
            out.append(f"    edit {name}" if name.isdigit() else f'    edit "{name}"')
            for key, *values in settings:
                out.append(f"        set {key} " + " ".join(_quoted(v) for v in values))
            out.append("    next")
        out.append("end")
    return "\n".join(out) + "\n"


def _quoted(value: str) -> str:
    bare = value.replace(".", "").replace("-", "").replace("_", "").isalnum()
    return value if bare and not value.isalpha() else f'"{value}"'


def apply(config: str, script: str) -> str:
    tables = load(config)
    state = ["", ""]
    for raw in script.splitlines():
        if raw.strip() and not raw.strip().startswith("#"):
            apply_words(tables, shlex.split(raw), state)
    return render(tables)


CONFIG = """\
config firewall address
    edit "all"
    next
    edit "mx"
        set subnet 203.0.113.25 255.255.255.255
    next
    edit "relay-a"
        set subnet 192.0.2.0 255.255.255.128
    next
    edit "blocked"
        set subnet 198.51.100.0 255.255.255.0
    next
    edit "auditor-100.64.0.0_24"
        set subnet 100.64.0.0 255.255.255.0
    next
end
config firewall addrgrp
    edit "MAILERS"
        set member "relay-a" "auditor-100.64.0.0_24"
    next
end
config firewall policy
    edit 7
        set name "no-blocked"
        set srcintf "port1"
        set dstintf "port2"
        set srcaddr "blocked"
        set dstaddr "all"
        set action deny
        set schedule "always"
        set service "ALL"
    next
    edit 3
        set name "mail-in"
        set srcintf "port1"
        set dstintf "port2"
        set srcaddr "MAILERS"
        set dstaddr "mx"
        set action accept
        set schedule "always"
        set service "SMTP"
    next
end
"""

ARGS = ["--chain", "port1:port2", "--to", "203.0.113.25"]
LINES = CONFIG.split("\n")
EDIT_7 = LINES.index("    edit 7") + 1
EDIT_3 = LINES.index("    edit 3") + 1


def rules_of(out: Path, kind: str) -> str:
    found = sorted(out.rglob(f"*{kind}*"))
    assert len(found) == 1, [p.name for p in out.rglob("*")]
    return found[0].read_text()


def test_into_the_group_the_accepting_policy_uses(
    run_cli: RunCli, write: WriteFile, tmp_path: Path
) -> None:
    write("fgt.conf", CONFIG)
    write("exp.txt", "192.0.2.0/24\n203.0.113.0/28\n100.64.0.0/24\n")
    code, out, err = run_cli(
        "diff", "-e", "exp.txt", "-d", "fgt.conf", *ARGS, "--rules", "auto", "--output-dir", "r"
    )
    assert code == 1, (out, err)
    script = rules_of(tmp_path / "r", "apply")
    # the accepting policy's group, named with its line; no new policy
    assert 'edit "MAILERS"' in script and "append member" in script
    assert f"which policy 3 (fgt.conf:{EDIT_3}) uses" in script
    assert "config firewall policy" not in script
    write("fgt.conf", apply(CONFIG, script))
    code, out, err = run_cli("diff", "-e", "exp.txt", "-d", "fgt.conf", *ARGS)
    assert code == 0, (out, err)


def test_a_new_policy_before_the_deny(run_cli: RunCli, write: WriteFile, tmp_path: Path) -> None:
    write("fgt.conf", CONFIG)
    write("exp.txt", "198.51.100.0/25\n192.0.2.0/25\n")
    code, out, err = run_cli(
        "diff", "-e", "exp.txt", "-d", "fgt.conf", *ARGS, "--rules", "auto", "--output-dir", "r"
    )
    assert code == 1, (out, err)
    script = rules_of(tmp_path / "r", "apply")
    assert f"Today policy 7 (fgt.conf:{EDIT_7}) decides these addresses" in script
    assert "    edit 0\n" in script and "    move 8 before 7\n" in script
    assert 'set srcintf "port1"' in script and 'set dstintf "port2"' in script
    applied = apply(CONFIG, script)
    assert applied.index("edit 8") < applied.index("edit 7")
    write("fgt.conf", applied)
    code, out, err = run_cli("diff", "-e", "exp.txt", "-d", "fgt.conf", *ARGS)
    assert code == 0, (out, err)
    # the rollback takes it all back
    back = rules_of(tmp_path / "r", "rollback")
    write("fgt.conf", apply(applied, back))
    code, out, err = run_cli("diff", "-e", "exp.txt", "-d", "fgt.conf", *ARGS)
    assert code == 1 and "198.51.100.0/25" in out


def test_prune_removes_the_extras_of_the_group(
    run_cli: RunCli, write: WriteFile, tmp_path: Path
) -> None:
    write("fgt.conf", CONFIG)
    write("exp.txt", "192.0.2.0/25\n")
    args = [*ARGS, "--scope", "MAILERS"]
    code, out, err = run_cli("diff", "-e", "exp.txt", "-d", "fgt.conf", *args)
    assert code == 0 and "100.64.0.0/24" in out  # extra in the scope
    code, out, err = run_cli(
        "diff", "-e", "exp.txt", "-d", "fgt.conf", *args, "--rules", "auto", "--prune",
        "--output-dir", "r",
    )  # fmt: skip
    assert code == 0, (out, err)
    prune = rules_of(tmp_path / "r", "prune")
    assert 'unselect member "auditor-100.64.0.0_24"' in prune
    write("fgt.conf", apply(CONFIG, prune))
    code, out, err = run_cli("diff", "-e", "exp.txt", "-d", "fgt.conf", *args)
    assert code == 0 and "100.64.0.0" not in out, out
    assert "auditor-100.64.0.0_24" not in (tmp_path / "fgt.conf").read_text()


HOSTILE = """\
config firewall address
    edit "all"
    next
    edit "relay-a"
        set subnet 192.0.2.0 255.255.255.128
    next
    edit "blocked"
        set subnet 198.51.100.0 255.255.255.0
    next
end
config firewall addrgrp
    edit "MAIL\\"ERS
config system admin"
        set member "relay-a"
    next
end
config firewall policy
    edit 3
        set srcintf "port1"
        set dstintf "po\\"rt2"
        set srcaddr "MAIL\\"ERS
config system admin"
        set dstaddr "all"
        set action accept
        set schedule "always"
        set service "ALL"
    next
    edit 7
        set srcintf "port1"
        set dstintf "po\\"rt2"
        set srcaddr "blocked"
        set dstaddr "all"
        set action deny
        set schedule "always"
        set service "ALL"
    next
end
"""


HOSTILE_ID = CONFIG.replace(
    "    edit 7\n", '    edit "7\n    move 3 after\n config system admin"\n'
)


@pytest.mark.parametrize("config", [HOSTILE, HOSTILE_ID], ids=["names", "policy-id"])
def test_names_from_the_configuration_never_reach_the_script_unchecked(
    config: str, run_cli: RunCli, write: WriteFile, tmp_path: Path
) -> None:
    """A group or interface name holding a quote or a line break (FortiOS takes ``\\"`` and
    line breaks in a quoted name) would end the quoted value in the script and start a
    command of its own: such names are not written (the rules fall back to what needs none)."""
    write("fgt.conf", config)
    write("exp.txt", "192.0.2.0/24\n198.51.100.0/25\n")
    code, out, err = run_cli(
        "diff", "-e", "exp.txt", "-d", "fgt.conf", "--to", "203.0.113.25", "--rules", "auto",
        "--output-dir", "r",
    )  # fmt: skip
    assert code == 1, (out, err)
    for path in (tmp_path / "r").iterdir():
        for line in path.read_text().splitlines():
            if line.startswith("#"):
                continue
            assert "config system admin" not in line, (path.name, line)
            assert line.count('"') % 2 == 0 and '\\"' not in line, (path.name, line)
            assert "po\\" not in line and "move 3 after" not in line, line


BOTH = CONFIG.replace(
    "config firewall addrgrp\n",
    "config firewall address6\n"
    '    edit "all"\n        set ip6 ::/0\n    next\n'
    '    edit "blocked6"\n        set ip6 2001:db8::/32\n    next\n'
    "end\nconfig firewall addrgrp\n",
).replace(
    '        set srcaddr "blocked"\n',
    '        set srcaddr "blocked"\n        set srcaddr6 "blocked6"\n        set dstaddr6 "all"\n',
)


def test_both_families_each_move_their_own_new_policy(
    run_cli: RunCli, write: WriteFile, tmp_path: Path
) -> None:
    """One policy a family, each made by ``edit 0``: the IPv6 script, run after the IPv4 one
    (as its header says), makes the next id, and moves and rolls back that one."""
    write("fgt.conf", BOTH)
    write("exp.txt", "198.51.100.0/25\n2001:db8::/48\n")
    code, out, err = run_cli(
        "diff", "-e", "exp.txt", "-d", "fgt.conf", *ARGS, "--rules", "auto", "--output-dir", "r"
    )
    assert code == 1, (out, err)
    r = tmp_path / "r"
    v4, v6 = (r / "fortios-v4-apply.conf").read_text(), (r / "fortios-v6-apply.conf").read_text()
    assert "move 8 before 7" in v4 and "move 9 before 7" in v6
    assert "IPv4" in v6  # the order the scripts run in
    applied = apply(apply(BOTH, v4), v6)
    assert applied.index("edit 8") < applied.index("edit 7")
    assert applied.index("edit 9") < applied.index("edit 7")
    write("fgt.conf", applied)
    code, out, err = run_cli("diff", "-e", "exp.txt", "-d", "fgt.conf", *ARGS)
    assert code == 0, (out, err)
    # rolled back in the reverse order, each deletes its own policy
    back4, back6 = (
        (r / "fortios-v4-rollback.conf").read_text(),
        (r / "fortios-v6-rollback.conf").read_text(),
    )
    restored = apply(apply(applied, back6), back4)
    assert "edit 8" not in restored and "edit 9" not in restored
    assert {k: v for k, v in load(restored).items() if v} == load(BOTH)


VDOMS = """\
config vdom
edit root
next
edit mail
next
end
config vdom
edit root
config firewall policy
    edit 1
        set srcintf "port1"
        set dstintf "port2"
        set srcaddr "all"
        set dstaddr "all"
        set action accept
        set schedule "always"
        set service "ALL"
    next
end
next
edit mail
config firewall address
    edit "all"
    next
    edit "relays"
        set subnet 192.0.2.0 255.255.255.0
    next
    edit "blocked"
        set subnet 198.51.100.0 255.255.255.0
    next
end
config firewall policy
    edit 4
        set srcintf "port5"
        set dstintf "port6"
        set srcaddr "blocked"
        set dstaddr "all"
        set action deny
        set schedule "always"
        set service "ALL"
    next
    edit 1
        set srcintf "port5"
        set dstintf "port6"
        set srcaddr "relays"
        set dstaddr "all"
        set action accept
        set schedule "always"
        set service "ALL"
    next
end
next
end
"""


def apply_in_vdom(config: str, vdom: str, script: str) -> str:
    """The script's commands inside ``config vdom`` / ``edit VDOM`` ... ``end``, applied to that
    VDOM's own configuration (the part of the file after its ``edit`` in the second
    ``config vdom`` block), which is written back in place."""
    lines = [x for x in script.splitlines() if x.strip() and not x.startswith("#")]
    assert lines[:2] == ["config vdom", f'edit "{vdom}"'] and lines[-1] == "end", lines
    inner = "\n".join(lines[2:-1]) + "\n"
    head, sep, rest = config.rpartition(f"\nnext\nedit {vdom}\n")
    assert sep, "the VDOM's configuration"
    body, tail = rest.split("\nnext\nend\n", 1)  # the VDOM's own next (not indented)
    return head + sep + apply(body + "\n", inner) + "next\nend\n" + tail


def test_vdom_round_trip(run_cli: RunCli, write: WriteFile, tmp_path: Path) -> None:
    write("fgt.conf", VDOMS)
    write("exp.txt", "192.0.2.0/24\n198.51.100.0/25\n")
    args = ["--chain", "mail/port5:port6"]
    code, out, err = run_cli(
        "diff", "-e", "exp.txt", "-d", "fgt.conf", *args, "--rules", "auto", "--output-dir", "r"
    )
    assert code == 1, (out, err)
    script = rules_of(tmp_path / "r", "apply")
    assert "move 5 before 4" in script  # the mail VDOM's own ids
    applied = apply_in_vdom(VDOMS, "mail", script)
    assert applied.startswith(VDOMS.split("edit mail\nconfig")[0])  # root is as it was
    assert applied.index("edit 5") < applied.index("edit 4")
    write("fgt.conf", applied)
    code, out, err = run_cli("diff", "-e", "exp.txt", "-d", "fgt.conf", *args)
    assert code == 0, (out, err)
    write("fgt.conf", apply_in_vdom(applied, "mail", rules_of(tmp_path / "r", "rollback")))
    code, out, err = run_cli("diff", "-e", "exp.txt", "-d", "fgt.conf", *args)
    assert code == 1 and "198.51.100.0/25" in out

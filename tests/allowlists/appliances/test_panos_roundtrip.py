"""Round trip: ``auditor diff --rules auto`` on a PAN-OS configuration in the set form writes
set commands; applied the way the device applies them, then read again, the diff is in sync;
with ``--scope GROUP --prune`` the extras are gone after the prune.

The applier does what the PAN-OS CLI does for exactly the commands generated (PAN-OS CLI
Quick Start, "Use the CLI": ``set`` adds a setting or a member to a list, a new rule goes to
the end of the rulebase; ``move rulebase security rules R before S`` / ``top`` changes the
order; ``delete address-group G static M`` takes a member out; ``delete address A`` deletes an
object, refused while a group still uses it) on the configuration as ``show config running``
lists it in the set form: each rule's lines together, in rulebase order."""

from __future__ import annotations

import json
import re
import shlex
from pathlib import Path

from conftest import RunCli, WriteFile

CONFIG = """\
set zone untrust network layer3 ethernet1/1
set zone trust network layer3 ethernet1/2
set address relay-a ip-netmask 192.0.2.0/25
set address old-relay ip-netmask 203.0.113.0/24
set address-group relays static [ relay-a old-relay ]
set service smtp-svc protocol tcp port 25
set rulebase security rules block-range from untrust to trust source [ 198.51.100.0/24 ] \
destination any application any service any action deny
set rulebase security rules mail-in from untrust to trust source relays destination any \
application any service smtp-svc action allow
set rulebase security rules deny-rest from untrust to trust source any destination any \
application any service any action deny
""".replace(" \\\n", " ")

EXPECTED = "192.0.2.0/24\n198.51.100.7\n2001:db8:1::/48\n"


def _words(line: str) -> list[str]:
    return shlex.split(line)


def _rule_of(line: str) -> str | None:
    words = _words(line)
    if words[:4] == ["set", "rulebase", "security", "rules"]:
        return words[4]
    return None


def apply(config: str, commands: str) -> str:
    lines = config.splitlines()
    for command in commands.splitlines():
        if not command.strip() or command.startswith("#"):
            continue
        words = _words(command)
        if words[0] == "set":
            lines.append(command)
        elif words[:4] == ["move", "rulebase", "security", "rules"]:
            rule = words[4]
            mine = [x for x in lines if _rule_of(x) == rule]
            rest = [x for x in lines if _rule_of(x) != rule]
            if words[5] == "top":
                at = next(i for i, x in enumerate(rest) if _rule_of(x) is not None)
            else:
                assert words[5] == "before", command
                at = next(i for i, x in enumerate(rest) if _rule_of(x) == words[6])
            lines = rest[:at] + mine + rest[at:]
        elif words[:2] == ["delete", "address-group"] and words[3] == "static":
            group, member = words[2], words[4]
            out = []
            for x in lines:
                w = _words(x)
                if w[:3] == ["set", "address-group", group] and w[3] == "static":
                    kept = re.findall(r"[^\s\[\]]+", x.split(" static ", 1)[1])
                    kept = [m for m in kept if m != member]
                    x = f"set address-group {group} static [ {' '.join(kept)} ]"
                out.append(x)
            lines = out
        elif words[:2] == ["delete", "address"]:
            name = words[2]
            used = [x for x in lines if x.startswith("set address-group") and f" {name} " in x]
            assert not used, f"the device refuses: {name} is still used by {used}"
            lines = [x for x in lines if _words(x)[:3] != ["set", "address", name]]
        else:
            raise AssertionError(f"the applier does not know {command!r}")
    return "\n".join(lines) + "\n"


ARGS = ("--chain", "untrust:trust", "--to", "203.0.113.25")


def test_rules_auto_placed_before_the_deny_then_in_sync(
    run_cli: RunCli, write: WriteFile, tmp_path: Path
) -> None:
    write("fw.set", CONFIG)
    write("expected.txt", EXPECTED)
    code, out, err = run_cli("diff", "-e", "expected.txt", "-d", "fw.set", *ARGS, "-o", "cidr",
                             "--rules", "auto", "--output-dir", "out")  # fmt: skip
    assert code == 1, err
    [apply_file] = sorted((tmp_path / "out").glob("panos-*apply*"))
    body = apply_file.read_text()
    # block-range (line 7) denies 198.51.100.7 today: the rule goes before it
    assert "move rulebase security rules auditor-tcp25 before block-range" in body
    assert "before rule block-range (fw.set:7)" in body
    assert "from untrust to trust" in body
    write("after.set", apply(CONFIG, body))
    code, out, err = run_cli("diff", "-e", "expected.txt", "-d", "after.set", *ARGS, "-o", "cidr")
    assert code == 0, out + err
    # without the move, the deny would still decide: the placement is what makes it work
    unmoved = "\n".join(x for x in body.splitlines() if not x.startswith("move ")) + "\n"
    write("unmoved.set", apply(CONFIG, unmoved))
    code, out, _ = run_cli("diff", "-e", "expected.txt", "-d", "unmoved.set", *ARGS, "-o", "cidr")
    assert code == 1 and "198.51.100.7/32" in out


def test_scope_prune_removes_the_extras(run_cli: RunCli, write: WriteFile, tmp_path: Path) -> None:
    # the group holds an object this tool made for a CIDR no longer expected
    config = CONFIG.replace(
        "set address-group relays static [ relay-a old-relay ]",
        "set address auditor-198.18.0.0_24 ip-netmask 198.18.0.0/24\n"
        "set address-group relays static [ relay-a auditor-198.18.0.0_24 old-relay ]",
    )
    write("fw.set", config)
    write("expected.txt", "192.0.2.0/24\n203.0.113.0/24\n")
    code, out, _ = run_cli("diff", "-e", "expected.txt", "-d", "fw.set", *ARGS,
                           "--scope", "relays", "-o", "json")  # fmt: skip
    assert [e["cidr"] for e in json.loads(out)["extra"]] == ["198.18.0.0/24"]
    code, out, err = run_cli("diff", "-e", "expected.txt", "-d", "fw.set", *ARGS, "-o", "cidr",
                             "--scope", "relays", "--prune", "--rules", "auto",
                             "--output-dir", "out")  # fmt: skip
    assert code == 1, err
    arts = {p.name: p.read_text() for p in (tmp_path / "out").iterdir()}
    [apply_body] = [t for n, t in arts.items() if "apply" in n]
    [prune_body] = [t for n, t in arts.items() if "prune" in n]
    assert "set address-group relays static [ auditor-192.0.2.128_25 ]" in apply_body
    after = apply(apply(config, apply_body), prune_body)
    assert "198.18.0.0" not in after
    write("after.set", after)
    code, out, err = run_cli("diff", "-e", "expected.txt", "-d", "after.set", *ARGS,
                             "--scope", "relays", "-o", "json")  # fmt: skip
    assert code == 0, out + err
    assert json.loads(out)["extra"] == []

"""Rules for one vsys or device group of a PAN-OS configuration (``--chain NAME/FROM:TO``):
every generated line names that vsys or device group, as the configuration's own set form
does (PAN-OS CLI Quick Start, "Use the CLI": on a firewall with several virtual systems the
configuration path starts with ``vsys NAME``; on Panorama with ``device-group NAME``, whose
rules are in ``pre-rulebase`` and ``post-rulebase``), and the rule is placed before the rule
of that vsys that denies the addresses, never by the order of another one."""

from __future__ import annotations

import shlex
from pathlib import Path

from conftest import RunCli, WriteFile

CONFIG = """\
set vsys vsys1 zone untrust network layer3 ethernet1/1
set vsys vsys1 zone trust network layer3 ethernet1/2
set vsys vsys1 rulebase security rules allow-1 from untrust to trust source any \
destination any application any service any action allow
set vsys vsys2 zone untrust network layer3 ethernet1/3
set vsys vsys2 zone trust network layer3 ethernet1/4
set vsys vsys2 rulebase security rules mail from untrust to trust source 192.0.2.0/25 \
destination any application any service any action allow
set vsys vsys2 rulebase security rules blk2 from untrust to trust source 198.51.100.0/24 \
destination any application any service any action deny
""".replace(" \\\n", " ")


def _rule(words: list[str]) -> tuple[str, str] | None:
    """(vsys, rule) of a rule's set line."""
    if words[:2] == ["set", "vsys"] and words[3:6] == ["rulebase", "security", "rules"]:
        return words[2], words[6]
    return None


def apply(config: str, commands: str) -> str:
    """What the CLI does for the commands generated here: a set is added (a new rule at the
    end of its vsys' rulebase), ``move vsys V rulebase security rules R before S`` moves R's
    lines before S's."""
    lines = config.splitlines()
    for command in commands.splitlines():
        if not command.strip() or command.startswith("#"):
            continue
        words = shlex.split(command)
        if words[0] == "set":
            assert words[1:3] == ["vsys", "vsys2"], command
            lines.append(command)
            continue
        assert words[:7] == ["move", "vsys", "vsys2", "rulebase", "security", "rules",
                             words[6]] and words[7] == "before", command  # fmt: skip
        me, other = ("vsys2", words[6]), ("vsys2", words[8])
        mine = [x for x in lines if _rule(shlex.split(x)) == me]
        rest = [x for x in lines if _rule(shlex.split(x)) != me]
        at = next(i for i, x in enumerate(rest) if _rule(shlex.split(x)) == other)
        lines = rest[:at] + mine + rest[at:]
    return "\n".join(lines) + "\n"


ARGS = ("--chain", "vsys2/untrust:trust", "--to", "203.0.113.25", "-o", "cidr")


def test_every_line_names_the_vsys_and_the_rule_goes_before_its_deny(
    run_cli: RunCli, write: WriteFile, tmp_path: Path
) -> None:
    write("fw.set", CONFIG)
    write("expected.txt", "192.0.2.0/24\n198.51.100.7\n")
    code, _, err = run_cli("diff", "-e", "expected.txt", "-d", "fw.set", *ARGS,
                           "--rules", "auto", "--output-dir", "out")  # fmt: skip
    assert code == 1, err
    [apply_file] = sorted((tmp_path / "out").glob("panos-*apply*"))
    body = apply_file.read_text()
    assert "move vsys vsys2 rulebase security rules auditor-tcp25 before blk2" in body
    commands = [x for x in body.splitlines() if x and not x.startswith("#")]
    assert all(x.split()[1:3] == ["vsys", "vsys2"] for x in commands), commands
    [rollback_file] = sorted((tmp_path / "out").glob("panos-*rollback*"))
    back = [x for x in rollback_file.read_text().splitlines() if x and not x.startswith("#")]
    assert all(x.split()[1:3] == ["vsys", "vsys2"] for x in back), back
    write("after.set", apply(CONFIG, body))
    code, out, err = run_cli("diff", "-e", "expected.txt", "-d", "after.set", *ARGS)
    assert code == 0, out + err


def test_several_vsys_without_a_name_are_refused(run_cli: RunCli, write: WriteFile) -> None:
    write("fw.set", CONFIG)
    write("expected.txt", "192.0.2.0/24\n198.51.100.7\n")
    args = ("--chain", "untrust:trust", "--to", "203.0.113.25", "--rules", "auto")
    code, out, err = run_cli("diff", "-e", "expected.txt", "-d", "fw.set", *args)
    assert code == 2
    assert "--chain NAME/FROM:TO" in err and "vsys1, vsys2" in err, err


def test_a_device_group_name_that_cannot_be_written_safely_is_refused(
    run_cli: RunCli, write: WriteFile
) -> None:
    config = (
        '<config><devices><entry name="localhost.localdomain"><device-group>'
        '<entry name="dg&#10;delete rulebase"><pre-rulebase><security><rules>'
        '<entry name="r"><from><member>untrust</member></from><to><member>trust</member></to>'
        "<source><member>198.51.100.0/24</member></source>"
        "<destination><member>any</member></destination>"
        "<application><member>any</member></application>"
        "<service><member>any</member></service><action>deny</action></entry>"
        "</rules></security></pre-rulebase></entry></device-group></entry></devices></config>"
    )
    write("pano.xml", config)
    write("expected.txt", "198.51.100.7\n")
    args = ("--chain", "untrust:trust", "--to", "203.0.113.25", "--rules", "auto")
    code, out, err = run_cli("diff", "-e", "expected.txt", "-d", "pano.xml", *args)
    assert code == 2, out + err
    assert "delete rulebase" not in out.replace("\\n", " ")
    assert "cannot be written safely" in err

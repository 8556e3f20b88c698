"""Round trip for MikroTik: ``auditor diff --rules auto`` on a RouterOS export writes the .rsc
scripts; an applier written here does what RouterOS does with exactly the commands generated
(``/import``: an address-list ``add`` when no entry matches, a filter ``add`` with
``place-before=[:pick [find dynamic=no] K]`` stored as the K-th static rule, ``remove [find
...]``), writing the export as RouterOS would show it; the result, read back, is in sync.

RouterOS manual: "Scripting" (https://help.mikrotik.com/docs/display/ROS/Scripting: ``:if``,
``:len``, ``:pick``, ``find``), "Firewall > Filter" (``place-before``: the rule is added before
the given item), "Address-lists".
"""

from __future__ import annotations

import re
import time
from pathlib import Path

import pytest

from tests.conftest import RunCli

EXPORT = """\
# 2024-05-01 10:00:00 by RouterOS 7.14.3
/ip firewall address-list
add address=192.0.2.0/24 list=relays
add address=10.9.9.0/24 list=relays
/ip firewall filter
add action=accept chain=input connection-state=established,related,untracked
add action=drop chain=input src-address=198.51.100.0/24
add action=accept chain=input dst-port=25 protocol=tcp src-address-list=relays
add action=drop chain=input dst-port=25 protocol=tcp
/ipv6 firewall address-list
add address=2001:db8:ffff::/48 list=relays
/ipv6 firewall filter
add action=accept chain=input dst-port=25 protocol=tcp src-address-list=relays
add action=drop chain=input
"""

_ENTRY = re.compile(
    r':if \(\[:len \[find list="([^"]+)" address=(\S+)\]\] = 0\) do=\{ add list="\1" address=\2'
    r'(?: comment="([^"]*)")? \}'
)
_RULE = re.compile(
    r':if \(\[:len \[find comment="([^"]*)"\]\] = 0\) do=\{ add (.*?)'
    r"(?: place-before=\[:pick \[find dynamic=no\] (\d+)\])? \}"
)
_TOP = re.compile(
    r':if \(\[:len \[find comment="([^"]*)"\]\] = 0\) do=\{ :if \(\[:len \[find dynamic=no\]\]'
    r" = 0\) do=\{ add (.*?) \} else=\{ add \2 place-before=\[:pick \[find dynamic=no\] 0\] \} \}"
)
_REMOVE = re.compile(r'remove \[find list="([^"]+)" address=(\S+)\]')
_REMOVE_RULE = re.compile(r'remove \[find comment="([^"]*)"\]')


class Router:
    """An export's lines, changed as RouterOS changes what it holds (sections and items)."""

    def __init__(self, text: str) -> None:
        self.lines = text.splitlines()

    def section(self, menu: str) -> tuple[int, int]:
        """The first and the past-the-end line index of a menu's items (made when absent)."""
        if menu not in self.lines:
            self.lines.append(menu)
        start = self.lines.index(menu) + 1
        end = start
        while end < len(self.lines) and self.lines[end].startswith("add "):
            end += 1
        return start, end

    def items(self, menu: str) -> list[str]:
        start, end = self.section(menu)
        return self.lines[start:end]

    def run(self, script: str) -> None:
        menu = ""
        for line in script.splitlines():
            if not line.strip() or line.startswith("#"):
                continue
            if line.startswith("/"):
                menu = line
                continue
            if m := _ENTRY.fullmatch(line):
                name, address, comment = m.groups()
                if not any(f"address={address} " in i + " " and f"list={name}" in i
                           for i in self.items(menu)):  # fmt: skip
                    _, end = self.section(menu)
                    shown = f' comment="{comment}"' if comment else ""
                    self.lines.insert(end, f"add address={address}{shown} list={name}")
            elif m := _TOP.fullmatch(line):
                self.add_rule(menu, m.group(1), m.group(2), 0)
            elif m := _RULE.fullmatch(line):
                at = None if m.group(3) is None else int(m.group(3))
                self.add_rule(menu, m.group(1), m.group(2), at)
            elif m := _REMOVE.fullmatch(line):
                start, end = self.section(menu)
                address, name = f"address={m.group(2)} ", f"list={m.group(1)}"
                keep = [i for i in self.lines[start:end] if not (address in i + " " and name in i)]
                self.lines[start:end] = keep
            elif m := _REMOVE_RULE.fullmatch(line):
                start, end = self.section(menu)
                tag = f'comment="{m.group(1)}"'
                self.lines[start:end] = [i for i in self.lines[start:end] if tag not in i]
            else:
                raise AssertionError(f"the applier does not know {line!r}")

    def add_rule(self, menu: str, tag: str, args: str, at: int | None) -> None:
        start, end = self.section(menu)
        if any(f'comment="{tag}"' in i for i in self.lines[start:end]):
            return
        self.lines.insert(end if at is None else start + min(at, end - start), f"add {args}")

    def text(self) -> str:
        return "\n".join(self.lines) + "\n"


def _diff(run_cli: RunCli, *args: str) -> tuple[int, str]:
    got = run_cli("diff", *args)
    return got.code, got.stdout + got.stderr


@pytest.fixture
def files(tmp_path: Path) -> tuple[Path, Path]:
    export = tmp_path / "router.rsc"
    export.write_text(EXPORT)
    expected = tmp_path / "expected.txt"
    expected.write_text("192.0.2.0/24\n198.51.100.7\n203.0.113.0/24\n2001:db8:1::/48\n")
    return export, expected


def test_rule_before_the_drop_that_decides_them(
    tmp_path: Path, run_cli: RunCli, files: tuple[Path, Path]
) -> None:
    export, expected = files
    out = tmp_path / "out"
    code, text = _diff(  # relative names: run_cli runs in tmp_path
        run_cli, "-e", expected.name, "-d", export.name, "--rules", "auto", "--output-dir", "out"
    )
    assert code == 1, text
    v4 = (out / "mikrotik-v4-apply.rsc").read_text()
    # the drop of 198.51.100.0/24 (line 7, the second static rule) decides one of them today
    assert "# Before static rule 1: router.rsc:7: add action=drop chain=input src-address=" in v4
    assert "place-before=[:pick [find dynamic=no] 1]" in v4
    router = Router(EXPORT)
    for _ in range(2):  # twice: the script adds nothing it finds
        router.run(v4)
        router.run((out / "mikrotik-v6-apply.rsc").read_text())
    after = tmp_path / "after.rsc"
    after.write_text(router.text())
    assert router.items("/ip firewall filter")[1].startswith("add chain=input src-address-list=")
    assert after.read_text().count("address=198.51.100.7 ") == 1
    code, text = _diff(run_cli, "-e", str(expected), "-d", str(after))
    assert code == 0, text + router.text()
    router.run((out / "mikrotik-v4-rollback.rsc").read_text())
    router.run((out / "mikrotik-v6-rollback.rsc").read_text())
    assert router.text() == EXPORT  # the roll back undoes it all
    code, _ = _diff(run_cli, "-e", str(expected), "-d", str(export))
    assert code == 1


def test_scope_fills_the_list_and_prune_removes_the_extras(
    tmp_path: Path, run_cli: RunCli, files: tuple[Path, Path]
) -> None:
    export, expected = files
    expected.write_text("192.0.2.0/24\n203.0.113.0/24\n2001:db8:1::/48\n")
    out = tmp_path / "out"
    args = ["-e", str(expected), "-d", str(export), "--scope", "relays", "--prune"]
    code, text = _diff(run_cli, *args, "--rules", "auto", "--output-dir", str(out))
    assert code == 1, text
    v4 = (out / "mikrotik-v4-apply.rsc").read_text()
    assert "/ip firewall filter" not in v4  # into the list the accepting rule uses
    router = Router(EXPORT)
    for name in ("v4-apply", "v6-apply", "v4-prune", "v6-prune"):
        path = out / f"mikrotik-{name}.rsc"
        if path.exists():
            router.run(path.read_text())
    assert (
        not (out / "mikrotik-v6-prune.rsc").exists()
        or "2001:db8:ffff::/48" in (out / "mikrotik-v6-prune.rsc").read_text()
    )
    after = tmp_path / "after.rsc"
    after.write_text(router.text())
    assert "10.9.9.0/24" not in router.text()
    assert "2001:db8:ffff::/48" not in router.text()
    code, text = _diff(run_cli, "-e", str(expected), "-d", str(after), "--scope", "relays")
    assert code == 0, text
    assert "10.9.9.0" not in text


def test_scope_that_would_not_let_them_in_says_so(
    tmp_path: Path, run_cli: RunCli, files: tuple[Path, Path]
) -> None:
    export, expected = files
    out = tmp_path / "out"
    args = ["-e", str(expected), "-d", str(export), "--scope", "relays"]
    code, _ = _diff(run_cli, *args, "--rules", "auto", "--output-dir", str(out))
    assert code == 1
    v4 = (out / "mikrotik-v4-apply.rsc").read_text()
    assert "would still not let 1 of the IPv4 CIDRs in, such as 198.51.100.7/32" in v4


TO_EXPORT = """\
/ip firewall address-list
add address=192.0.2.0/24 list=relays
/ip firewall filter
add action=accept chain=input connection-state=established,related
add action=drop chain=input dst-address=203.0.113.25 src-address=198.51.100.0/24
add action=accept chain=input dst-address=203.0.113.25 dst-port=25 protocol=tcp \\
    src-address-list=relays
add action=drop chain=input
"""


def test_with_to_the_rule_goes_before_the_drop_too(tmp_path: Path, run_cli: RunCli) -> None:
    """An audit with --to (the rules filter on dst-address): the placement is evaluated for the
    same destination, so the rule goes right before the drop that decides, not to the top."""
    (tmp_path / "r.rsc").write_text(TO_EXPORT)
    (tmp_path / "e.txt").write_text("192.0.2.0/24\n198.51.100.7\n")
    args = ["-e", "e.txt", "-d", "r.rsc", "--to", "203.0.113.25"]
    code, text = _diff(run_cli, *args, "--rules", "auto", "--output-dir", "out")
    assert code == 1, text
    v4 = (tmp_path / "out" / "mikrotik-v4-apply.rsc").read_text()
    assert "evaluates otherwise" not in v4
    assert "# Before static rule 1: r.rsc:5: add action=drop" in v4
    router = Router(TO_EXPORT)
    router.run(v4)
    assert router.items("/ip firewall filter")[0].startswith("add action=accept chain=input")
    (tmp_path / "after.rsc").write_text(router.text())
    code, text = _diff(run_cli, "-e", "e.txt", "-d", "after.rsc", "--to", "203.0.113.25")
    assert code == 0, text


def test_placement_in_a_long_filter_stays_fast(tmp_path: Path, run_cli: RunCli) -> None:
    """800 rules after the drop that decides: the placement tries a few positions, not one
    per rule (each try evaluates the whole filter)."""
    rules = [
        "add action=accept chain=input dst-port=25 protocol=tcp"
        f" src-address=10.{i // 256}.{i % 256}.0/24"
        for i in range(800)
    ]
    text = "\n".join(
        ["/ip firewall filter", "add action=drop chain=input src-address=198.51.100.0/24"]
        + rules
        + ["add action=drop chain=input", ""]
    )
    (tmp_path / "r.rsc").write_text(text)
    (tmp_path / "e.txt").write_text("198.51.100.7\n")
    started = time.monotonic()
    code, out = _diff(run_cli, "-e", "e.txt", "-d", "r.rsc", "--rules", "auto", "--output-dir", "o")
    assert code == 1, out
    assert time.monotonic() - started < 20
    v4 = (tmp_path / "o" / "mikrotik-v4-apply.rsc").read_text()
    assert "# Before static rule 0: r.rsc:2: add action=drop" in v4

"""What a run imports: only what its command and its inputs need.

Each case runs the command line in a fresh process, so nothing in the test process (pytest,
earlier imports) can hide or add a module.
"""

from __future__ import annotations

import ast
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

NETWORK = ("requests", "urllib3", "certifi", "auditor.net", "dns", "auditor.spf")
"""HTTP and DNS: a run of local files never needs them."""
CATALOG = ("auditor.sources.catalog", "auditor.yamlutil", "yaml")
"""The provider catalog (YAML): only a spec that may name a provider needs it."""
OTHER_READERS = tuple(
    f"auditor.allowlists.{family}" for family in ("firewalls", "nftables", "cloud", "mail", "web")
)
"""Readers of rulesets and configurations: a plain list needs none of them."""
TEXT_READER = "auditor.allowlists.lists.text"
FEEDS = ("auditor.sources.base", "auditor.sources.feeds", "auditor.sources.foreign")
"""Feed parsers, and the recogniser of files that are no list (a plain list is not one)."""


DRIVER = """
import sys
before = set(sys.modules)
from auditor.cli import run
sys.argv = ["auditor", *sys.argv[1:]]
try:
    run()
except SystemExit as e:
    code = e.code
sys.stdout.flush()
print(repr((code, sorted(set(sys.modules) - before))))
"""
"""Runs the command line as the program does (``auditor.cli.run``) and prints its exit code and
the modules it imported: those the interpreter imported before it (site files) do not count."""


def imported(*args: str, cwd: Path) -> tuple[int, set[str]]:
    """The exit code of ``auditor ARGS`` and the modules the process imported for it."""
    env = {**os.environ, "PYTHONPATH": str(ROOT), "NO_COLOR": "1"}
    proc = subprocess.run(
        [sys.executable, "-c", DRIVER, *args],
        capture_output=True,
        text=True,
        cwd=cwd,
        env=env,
        timeout=120,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    code, modules = ast.literal_eval(proc.stdout.splitlines()[-1])
    return code, set(modules)


def under(modules: set[str], prefixes: tuple[str, ...]) -> list[str]:
    return sorted(m for m in modules if any(m == p or m.startswith(p + ".") for p in prefixes))


def test_a_diff_of_two_plain_lists_imports_no_network_catalog_or_other_reader(
    tmp_path: Path,
) -> None:
    (tmp_path / "a.txt").write_text("# relays\n192.0.2.0/24\n2001:db8::/32\n")
    (tmp_path / "b.txt").write_text("192.0.2.0/25\n2001:db8::/32 ; v6\n")
    code, modules = imported("diff", "-e", "a.txt", "-d", "b.txt", "-o", "cidr", cwd=tmp_path)
    assert code == 1  # 192.0.2.128/25 is missing
    # the options of fetching and resolving are plain data, made for every run
    assert under(modules, NETWORK) == [
        "auditor.net",
        "auditor.net.options",
        "auditor.spf",
        "auditor.spf.options",
    ]
    assert under(modules, CATALOG) == []
    assert under(modules, OTHER_READERS) == []
    assert under(modules, FEEDS) == []
    # the plainest diff is read without Typer (auditor.cli.quick)
    assert under(modules, ("typer", "click", "rich")) == []
    # the commands other than diff, the other reports and the rule generators are not loaded
    others = ("explain", "fetch", "formats", "providers", "rules", "spf")
    assert under(modules, tuple(f"auditor.cli.{name}" for name in others)) == []
    assert under(modules, ("auditor.rules",)) == []
    reports = under(modules, ("auditor.reports",))
    assert reports == ["auditor.reports", "auditor.reports.base", "auditor.reports.cidr"]
    readers = under(modules, ("auditor.allowlists",))
    base = {"auditor.allowlists", "auditor.allowlists.base", "auditor.allowlists.lists"}
    # the text reader (and the modules of its own, auditor.allowlists.lists.text*)
    assert [m for m in readers if m not in base and not m.startswith(TEXT_READER)] == []


def test_a_provider_spec_still_loads_the_catalog(tmp_path: Path) -> None:
    (tmp_path / "b.txt").write_text("192.0.2.0/24\n")
    code, modules = imported("diff", "-e", "nosuch:x=1", "-d", "b.txt", cwd=tmp_path)
    assert code == 2  # no such provider: the error lists the catalog's
    assert "auditor.sources.catalog" in modules


@pytest.mark.parametrize("args", [["--help"], ["-h"], []])
def test_help_imports_no_command_and_no_typer(tmp_path: Path, args: list[str]) -> None:
    code, modules = imported(*args, cwd=tmp_path)
    assert code == (0 if args else 2)
    assert under(modules, ("typer", "click", "rich")) == []
    assert under(modules, NETWORK + CATALOG + ("numpy", "auditor.allowlists")) == []
    assert sorted(m for m in modules if m.startswith("auditor")) == [
        "auditor",
        "auditor.cli",
        "auditor.cli.commands",
    ]


def test_a_catalog_of_the_users_own_is_still_read_up_front(tmp_path: Path) -> None:
    # the built-in catalog waits for a provider spec; one given with --catalog is checked
    # whatever the sources are, so a broken one is said even when no spec needs it
    (tmp_path / "a.txt").write_text("192.0.2.0/24\n")
    (tmp_path / "mine.yaml").write_text("providers: [not, a, mapping]\n")
    code, modules = imported(
        "diff", "-e", "a.txt", "-d", "a.txt", "--catalog", "mine.yaml", cwd=tmp_path
    )
    assert code == 2
    assert "auditor.sources.catalog" in modules


def _list_of(n: int, seed: int) -> str:
    """n distinct /32s and /24s, one per line (about 17 bytes a line)."""
    out = []
    for i in range(n):
        a, b, c = (seed + i) % 200 + 1, i // 256 % 256, i % 256
        out.append(f"{a}.{b}.{c}.0/24" if i % 3 else f"{a}.{b}.{c}.{seed % 250 + 1}")
    return "\n".join(out) + "\n"


def test_a_diff_of_mid_size_lists_does_not_import_numpy(tmp_path: Path) -> None:
    # some ten thousand lines a side, past the size from which the reader takes its fast
    # parsers: a pattern per line reads them, because numpy's import alone costs more
    (tmp_path / "a.txt").write_text(_list_of(10_000, 1))
    (tmp_path / "b.txt").write_text(_list_of(13_000, 2))
    assert (tmp_path / "b.txt").stat().st_size > 64 * 1024
    code, modules = imported("diff", "-e", "a.txt", "-d", "b.txt", "-o", "cidr", cwd=tmp_path)
    assert code == 1
    assert under(modules, ("numpy", "auditor._vector", "auditor.allowlists.lists.text_bulk")) == []
    assert "auditor.allowlists.lists.text_lines" in modules


def test_a_diff_of_big_lists_takes_the_column_parsers(tmp_path: Path) -> None:
    (tmp_path / "a.txt").write_text(_list_of(80_000, 1))
    (tmp_path / "b.txt").write_text(_list_of(1000, 2))
    assert (tmp_path / "a.txt").stat().st_size > 1024 * 1024
    code, modules = imported("diff", "-e", "a.txt", "-d", "b.txt", "-o", "cidr", cwd=tmp_path)
    assert code == 1
    assert {"numpy", "auditor.allowlists.lists.text_bulk"} <= modules


def test_a_diff_with_more_options_goes_through_typer(tmp_path: Path) -> None:
    (tmp_path / "a.txt").write_text("192.0.2.0/24\n")
    (tmp_path / "b.txt").write_text("192.0.2.0/24\n")
    args = ("diff", "-e", "a.txt", "-d", "b.txt", "--service", "tcp/587")
    code, modules = imported(*args, cwd=tmp_path)
    assert code == 0
    assert "typer" in modules
    assert under(modules, NETWORK + CATALOG + OTHER_READERS) == [
        "auditor.net",
        "auditor.net.options",
        "auditor.spf",
        "auditor.spf.options",
    ]


APPLIANCE_FRONTS = (
    "auditor.allowlists.appliances",
    "auditor.allowlists.appliances.fronts",
    "auditor.allowlists.appliances.sniffing",
)
"""What format detection may import of the appliance readers: their classes and sniffs."""

IPTABLES_SAVE = """# Generated by iptables-save v1.8.9
*filter
:INPUT DROP [0:0]
:FORWARD DROP [0:0]
:OUTPUT ACCEPT [0:0]
-A INPUT -s 192.0.2.0/25 -p tcp -m tcp --dport 25 -j ACCEPT
COMMIT
"""


@pytest.mark.parametrize("name", ["fw.rules", "fw"])
def test_detecting_an_iptables_save_imports_no_appliance_parser(tmp_path: Path, name: str) -> None:
    # every reader's sniff is asked before iptables-save claims the file (and every reader's
    # suffixes, for a suffix none takes): the appliance readers answer from their fronts, and
    # their parsers and lowering are imported only to read a file of theirs
    (tmp_path / "a.txt").write_text("192.0.2.0/24\n")
    (tmp_path / name).write_text(IPTABLES_SAVE)
    code, modules = imported("diff", "-e", "a.txt", "-d", name, "-o", "cidr", cwd=tmp_path)
    assert code == 1  # 192.0.2.128/25 is missing
    assert "auditor.allowlists.firewalls.iptables_save" in modules
    assert under(modules, ("auditor.allowlists.appliances",)) == sorted(APPLIANCE_FRONTS)
    if name == "fw":
        # no suffix: the readers named after iptables-save are not even imported
        later = ("auditor.allowlists.firewalls.ufw_status", "auditor.allowlists.lists.yaml_list")
        assert under(modules, later) == []

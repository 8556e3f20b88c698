"""ipset: restore files loaded by the real ipset in a network namespace, read back with the
tool's ipset reader; roll back and prune; set names, chunks and hostile origins."""

from __future__ import annotations

import re
from dataclasses import replace
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from auditor.cli import app
from auditor.errors import UsageError
from auditor.model import Origin
from auditor.plugins import PLATFORM_OF_FORMAT
from auditor.rules import generator_for
from auditor.rules.artifacts import full_text
from auditor.rules.ipset import IpsetGenerator

from .helpers import HOSTILE_SOURCES, Netns, block, hostile_blocks, options, require_tool

DECLARED = """create mail4 hash:net family inet hashsize 1024 maxelem 65536
add mail4 203.0.113.0/24
add mail4 192.0.2.0/25
add mail4 10.0.0.0/8
create mail6 hash:net family inet6 hashsize 1024 maxelem 65536
add mail6 2001:db8:9::/48
"""
EXPECTED = "192.0.2.0/24\n198.51.100.7\n2001:db8:1::/48\n10.1.0.0/16\n"

# what a generated restore file may hold: comments, blank lines, and these commands only
_LINE = re.compile(
    r"(#[^\n]*|"
    r"create [A-Za-z0-9_.:+-]+ hash:net family inet6? maxelem [0-9]+ comment -exist|"
    r'add [A-Za-z0-9_.:+-]+ [0-9a-f.:]+/[0-9]+( comment "[^"\\\n]*")? -exist|'
    r"del [A-Za-z0-9_.:+-]+ [0-9a-f.:]+/[0-9]+ -exist|)"
)


def _diff(*args: str) -> int:
    return CliRunner().invoke(app, ["diff", *args, "-o", "cidr"]).exit_code


def _write(tmp_path: Path) -> tuple[Path, Path]:
    exp = tmp_path / "expected.txt"
    exp.write_text(EXPECTED)
    dec = tmp_path / "declared.ipset"
    dec.write_text(DECLARED)
    return exp, dec


def _restore(ns: Netns, path: Path) -> None:
    ns.run(["ipset", "restore", "-file", str(path)], check=True)


def _save(ns: Netns, tmp_path: Path, name: str) -> Path:
    out = tmp_path / name
    out.write_text(ns.run(["ipset", "save"], check=True).stdout)
    return out


def test_registered_for_auto() -> None:
    assert PLATFORM_OF_FORMAT["ipset"] == "ipset"
    assert isinstance(generator_for("ipset"), IpsetGenerator)


def test_round_trip_in_the_kernel(netns: Netns, tmp_path: Path) -> None:
    """Load the declared sets, apply what diff --rules auto wrote, save, read back: in sync.
    The roll back brings the drift back; the prune removes the extra entries of the scope."""
    require_tool("ipset")
    exp, dec = _write(tmp_path)
    _restore(netns, dec)
    out = tmp_path / "rules"
    args = ["-e", str(exp), "-d", str(dec)]
    assert _diff(*args, "--rules", "auto", "--output-dir", str(out)) == 1
    names = sorted(p.name for p in out.iterdir())
    assert names == [
        "ipset-v4-apply.ipset",
        "ipset-v4-rollback.ipset",
        "ipset-v6-apply.ipset",
        "ipset-v6-rollback.ipset",
    ]
    assert "create " not in (out / "ipset-v4-apply.ipset").read_text()  # mail4 exists
    for name in ("ipset-v4-apply.ipset", "ipset-v6-apply.ipset"):
        _restore(netns, out / name)
        _restore(netns, out / name)  # again: -exist
    saved = _save(netns, tmp_path, "after.ipset")
    assert _diff("-e", str(exp), "-d", str(saved)) == 0
    assert "add mail4 198.51.100.7" in saved.read_text()  # into the declared set
    assert "add mail6 2001:db8:1::/48" in saved.read_text()
    _restore(netns, out / "ipset-v4-rollback.ipset")
    _restore(netns, out / "ipset-v6-rollback.ipset")
    assert (
        _save(netns, tmp_path, "back.ipset").read_text()
        == _save(netns, tmp_path, "again.ipset").read_text()
    )
    assert _diff("-e", str(exp), "-d", str(tmp_path / "back.ipset")) == 1

    # prune: 203.0.113.0/24 is wholly extra and goes; 10.0.0.0/8 holds an expected /16: stays
    pruned = tmp_path / "prune"
    scoped = [*args, "--rules", "ipset", "--scope", "mail4", "--prune", "--output-dir"]
    assert _diff(*scoped, str(pruned)) == 1
    prune = (pruned / "ipset-all-prune.ipset").read_text()
    assert [ln for ln in prune.splitlines() if not ln.startswith("#")] == [
        "del mail4 203.0.113.0/24 -exist"
    ]
    assert "#   mail4 10.0.0.0/8" in prune
    for name in ("ipset-v4-apply.ipset", "ipset-v6-apply.ipset", "ipset-all-prune.ipset"):
        _restore(netns, pruned / name)
    final = _save(netns, tmp_path, "final.ipset")
    assert "203.0.113.0/24" not in final.read_text()
    assert _diff("-e", str(exp), "-d", str(final)) == 0
    extra = CliRunner().invoke(
        app, ["diff", "-e", str(exp), "-d", str(final), "--scope", "mail4", "-o", "cidr"]
    )
    assert extra.exit_code == 0, extra.output


def test_sets_of_its_own_are_created_and_chunked(netns: Netns, tmp_path: Path) -> None:
    """Without a declared set: created here, one per family; beyond maxelem, NAME-2 ..."""
    require_tool("ipset")

    class Small(IpsetGenerator):
        max_set_entries = 2

    blocks = [block(f"198.51.100.{i * 4}/30", Origin("n.txt", i + 1)) for i in range(5)]
    blocks.append(block("2001:db8::/32", Origin("n.txt", 9)))
    arts = Small().checked_artifacts(blocks, options("tcp/25,465"))
    apply4 = next(a for a in arts if a.kind == "apply" and a.family == 4)
    names = re.findall(r"^create (\S+) ", apply4.body, re.M)
    assert names == ["auditor-tcp25_465-v4", "auditor-tcp25_465-v4-2", "auditor-tcp25_465-v4-3"]
    assert "ip6tables" not in apply4.body
    assert "--match-set auditor-tcp25_465-v4-3 src -p tcp -m multiport --dports 25,465" in (
        apply4.body
    )
    for art in arts:
        path = tmp_path / art.file_name("ipset")
        path.write_text(full_text(art, "ipset", options().provenance, arts))
        _restore(netns, path)
    saved = netns.run(["ipset", "save"], check=True).stdout
    assert saved.count("add auditor-tcp25_465-v4") == 0  # rolled back: the sets stay, empty
    assert "create auditor-tcp25_465-v6 hash:net family inet6" in saved
    assert "maxelem 2 comment" in saved


def test_hostile_origins_load(netns: Netns, tmp_path: Path) -> None:
    """Comments from hostile origins: ipset restore loads them, and each element is there."""
    require_tool("ipset")
    blocks = hostile_blocks()
    arts = IpsetGenerator().checked_artifacts(blocks, options())
    for art in arts:
        assert all(_LINE.fullmatch(line) for line in art.body.splitlines()), art.body
    for art in (a for a in arts if a.kind == "apply"):
        path = tmp_path / art.file_name("ipset")
        path.write_text(full_text(art, "ipset", options().provenance, arts))
        _restore(netns, path)
    saved = netns.run(["ipset", "save"], check=True).stdout
    added = re.findall(r"^add \S+ (\S+)", saved, re.M)
    assert sorted(added) == sorted(b.cidr for b in blocks)


@settings(max_examples=60, deadline=None)
@given(st.lists(st.one_of(st.text(), st.sampled_from(HOSTILE_SOURCES)), min_size=1, max_size=4))
def test_fuzzed_origins_stay_comments(sources: list[str]) -> None:
    blocks = [block(f"192.0.{i}.0/24", Origin(s, i)) for i, s in enumerate(sources)]
    for art in IpsetGenerator().checked_artifacts(blocks, options()):
        lines = art.body.splitlines()
        assert all(_LINE.fullmatch(line) for line in lines), art.body
        commands = [ln for ln in lines if ln and not ln.startswith("#")]
        assert len([c for c in commands if c.startswith(("add", "del"))]) == len(blocks)


@pytest.mark.parametrize("scope", ["a b", "-x", "s;reboot", "$(id)", "x" * 32, "s\nadd"])
def test_a_bad_set_name_is_refused(scope: str) -> None:
    with pytest.raises(UsageError, match="set name"):
        IpsetGenerator().checked_artifacts(
            [block("192.0.2.0/24")], replace(options(), scope=(scope,))
        )


def test_a_whole_family_is_two_halves() -> None:
    arts = IpsetGenerator().checked_artifacts([block("0.0.0.0/0")], options())
    assert "add auditor-tcp25-v4 0.0.0.0/1 " in arts[0].body
    assert "add auditor-tcp25-v4 128.0.0.0/1 " in arts[0].body

"""Exchange rules: the script's changes applied to Get-ReceiveConnector output and read back
(diff exits 0), rolled back, and hostile connector names refused or quoted."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from auditor.errors import UsageError
from auditor.rules import RuleOptions, generator_for
from auditor.service import Service

from .helpers import HOSTILE_SOURCES, small_blocks
from .mail_helpers import EXPECTED, diff, extras

CONNECTORS = """Identity       : EXCH01\\Default Frontend EXCH01
Name           : Default Frontend EXCH01
Enabled        : True
Bindings       : {0.0.0.0:25, [::]:25}
RemoteIPRanges : {RANGES}
"""
_STRING = r"'((?:[^']|'')*)'"


def _unquote(text: str) -> str:
    return text.replace("''", "'")


def _changes(script: str) -> tuple[str, list[str], str]:
    """What the script changes: the connector, the ranges, Add or Remove (a reading of the
    PowerShell it writes: single-quoted strings, one range a line)."""
    ident = re.search(rf"^\$identity = {_STRING}$", script, re.M)
    assert ident is not None, script
    block = script.split("$ranges = @(\n", 1)[1].split("\n)", 1)[0]
    ranges = [_unquote(m) for m in re.findall(rf"^    {_STRING}$", block, re.M)]
    op = re.search(r"-RemoteIPRanges @\{(Add|Remove) = \$part\}", script)
    assert op is not None
    return _unquote(ident.group(1)), ranges, op.group(1)


def test_roundtrip_through_the_reader(tmp_path: Path) -> None:
    expected = tmp_path / "expected.txt"
    expected.write_text(EXPECTED)
    dump = tmp_path / "connectors.txt"
    dump.write_text(CONNECTORS.replace("RANGES", "203.0.113.0/24"))
    out = tmp_path / "out"
    argv = ["-e", str(expected), "-d", str(dump)]
    assert diff(*argv, "--rules", "auto", "--output-dir", str(out)) == 1
    ident, ranges, op = _changes((out / "exchange-all-apply.ps1").read_text())
    assert (ident, op) == ("EXCH01\\Default Frontend EXCH01", "Add")
    assert ranges == ["192.0.2.0/24", "198.51.100.7/32", "2001:db8:1::/48"]
    dump.write_text(CONNECTORS.replace("RANGES", ", ".join(["203.0.113.0/24", *ranges])))
    assert diff(*argv) == 0
    back = _changes((out / "exchange-all-rollback.ps1").read_text())
    assert back == (ident, ranges, "Remove")
    assert "$have -contains $_" in (out / "exchange-all-rollback.ps1").read_text()
    assert "$have -notcontains $_" in (out / "exchange-all-apply.ps1").read_text()


_names = st.one_of(st.text(min_size=1, max_size=70), st.sampled_from(HOSTILE_SOURCES))


@settings(max_examples=200, deadline=None)
@given(name=_names)
def test_hostile_connector_names(name: str) -> None:
    gen = generator_for("exchange")
    opts = RuleOptions(service=Service.parse("tcp/25"), scope=(name,))
    try:
        arts = gen.checked_artifacts(small_blocks(), opts)
    except UsageError:
        assert any(not c.isprintable() or c in "\u2018\u2019\u201a\u201b" for c in name) or (
            len(name.rsplit("\\", 1)[-1]) > 64 or not name.strip()
        )
        return
    for art in arts:
        assert _changes(art.body)[0] == name
        assert len(art.body.splitlines()) == 15  # nothing in the name starts a line


PARTNERS = """Identity       : EXCH01\\Partners
Name           : Partners
Enabled        : True
Bindings       : {0.0.0.0:25, [::]:25}
RemoteIPRanges : {RANGES}

Identity       : EXCH01\\Default Frontend EXCH01
Name           : Default Frontend EXCH01
Enabled        : True
Bindings       : {0.0.0.0:25}
RemoteIPRanges : {172.16.0.0/12}
"""
RANGES = [
    "192.0.2.0/23",  # holds an expected network: only partly extra
    "198.51.100.7",
    "203.0.113.0/24",
    "10.0.0.1-10.0.0.20",
    "192.168.1.0(255.255.255.0)",
    "2001:db8:1::/48",
    "2001:db8:9::/48",
]


def _removed(dump: Path, ident: str, ranges: list[str]) -> None:
    """What Set-ReceiveConnector -RemoteIPRanges @{Remove=...} does to the connector."""
    records = dump.read_text().split("\n\n")
    for k, record in enumerate(records):
        if f"Identity       : {ident}\n" in record:
            head, have = record.split("RemoteIPRanges : {")
            items = have.split("}")[0].split(", ")
            kept = [i for i in items if i not in ranges]
            records[k] = head + "RemoteIPRanges : {" + ", ".join(kept) + "}\n"
    dump.write_text("\n\n".join(records))


def test_prune_removes_the_wholly_extra_ranges_as_written(tmp_path: Path) -> None:
    expected = tmp_path / "expected.txt"
    expected.write_text(EXPECTED)
    dump = tmp_path / "connectors.txt"
    dump.write_text(PARTNERS.replace("RANGES", ", ".join(RANGES)))
    out = tmp_path / "out"
    scope = ["-e", str(expected), "-d", str(dump), "--scope", "EXCH01\\Partners"]
    before = extras(*scope)
    assert "203.0.113.0/24" in before and "192.0.3.0/24" in before
    assert diff(*scope, "--rules", "exchange", "--prune", "--output-dir", str(out)) == 0
    script = (out / "exchange-all-prune.ps1").read_text()
    ident, ranges, op = _changes(script)
    assert (ident, op) == ("EXCH01\\Partners", "Remove")
    # each as the export writes it, so that Exchange finds it; the partly extra one is kept
    assert sorted(ranges) == sorted(
        ["203.0.113.0/24", "10.0.0.1-10.0.0.20", "192.168.1.0(255.255.255.0)", "2001:db8:9::/48"]
    )
    assert "# kept: 192.0.2.0/23 is only partly extra" in script
    assert "$have -contains $_" in script  # only what the connector holds is removed
    _removed(dump, ident, ranges)
    assert extras(*scope) == ["192.0.3.0/24"]
    assert diff("-e", str(expected), "-d", str(dump)) == 0  # the expected ones still in
    assert "{172.16.0.0/12}" in dump.read_text()  # the other connector is not touched


def test_prune_chunks_like_the_apply_side(tmp_path: Path) -> None:
    expected = tmp_path / "expected.txt"
    expected.write_text(EXPECTED)
    dump = tmp_path / "connectors.txt"
    many = [f"10.{i // 256}.{i % 256}.0/24" for i in range(250)]
    dump.write_text(PARTNERS.replace("RANGES", ", ".join([*RANGES, *many])))
    out = tmp_path / "out"
    scope = ["-e", str(expected), "-d", str(dump), "--scope", "EXCH01\\Partners"]
    assert diff(*scope, "--rules", "exchange", "--prune", "--output-dir", str(out)) == 0
    script = (out / "exchange-all-prune.ps1").read_text()
    _, ranges, _ = _changes(script)
    assert len(ranges) == 254 and "$i += 100" in script
    _removed(dump, "EXCH01\\Partners", ranges)
    assert extras(*scope) == ["192.0.3.0/24"]


def test_prune_needs_the_connectors_export(tmp_path: Path) -> None:
    expected = tmp_path / "expected.txt"
    expected.write_text(EXPECTED)
    gen = generator_for("exchange")
    opts = RuleOptions(
        service=Service.parse("tcp/25"), scope=("EXCH01\\Partners",), prune=tuple(small_blocks())
    )
    with pytest.raises(UsageError, match="Get-ReceiveConnector"):
        gen.checked_artifacts([], opts)


@pytest.mark.parametrize(
    "ident", ["EXCH01\\Part'ners", "EXCH01\\$(Stop-Service x); `a`", 'EXCH01\\Ünïcode "q"']
)
def test_prune_of_a_hostile_connector_name(tmp_path: Path, ident: str) -> None:
    expected = tmp_path / "expected.txt"
    expected.write_text(EXPECTED)
    dump = tmp_path / "connectors.txt"
    text = PARTNERS.replace("RANGES", ", ".join(RANGES)).replace("EXCH01\\Partners", ident)
    dump.write_text(text)
    out = tmp_path / "out"
    scope = ["-e", str(expected), "-d", str(dump), "--scope", ident]
    assert diff(*scope, "--rules", "exchange", "--prune", "--output-dir", str(out)) == 0
    script = (out / "exchange-all-prune.ps1").read_text()
    got, ranges, _ = _changes(script)
    assert got == ident and len(ranges) == 4
    _removed(dump, got, ranges)
    assert extras(*scope) == ["192.0.3.0/24"]

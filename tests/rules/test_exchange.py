"""Exchange rules: the script's changes applied to Get-ReceiveConnector output and read back
(diff exits 0), rolled back, and hostile connector names refused or quoted."""

from __future__ import annotations

import re
from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

from auditor.errors import UsageError
from auditor.rules import RuleOptions, generator_for
from auditor.service import Service

from .helpers import HOSTILE_SOURCES, small_blocks
from .mail_helpers import EXPECTED, diff

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

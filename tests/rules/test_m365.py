"""Exchange Online inbound connector rules: the script's changes applied to the
Get-InboundConnector output and read back (diff exits 0), rolled back, pruned; wide CIDRs as
their /24s; IPv6 refused; hostile connector names refused or quoted."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from auditor import ipspace
from auditor.errors import UsageError
from auditor.rules import RuleOptions, generator_for
from auditor.service import Service

from .helpers import HOSTILE_SOURCES, block, small_blocks
from .mail_helpers import diff

DUMP = """Identity                     : Relays
Name                         : Relays
Enabled                      : True
ConnectorType                : Partner
SenderIPAddresses            : {VALUES}
RestrictDomainsToIPAddresses : True
"""
EXPECTED = "192.0.2.0/24\n198.51.100.7\n100.64.0.0/22\n203.0.113.128/25\n"
_STRING = r"'((?:[^']|'')*)'"


def _unquote(text: str) -> str:
    return text.replace("''", "'")


def _changes(script: str) -> tuple[str | None, list[str], str]:
    """What the script changes: the connector (None when the script asks for it), the values,
    Add or Remove (a reading of the PowerShell it writes: single-quoted strings, one a line)."""
    first = next(line for line in script.splitlines() if not line.startswith("#"))
    ident = re.fullmatch(rf"param\(\[string\]\$Identity = {_STRING}\)", first)
    if ident is None:
        assert first == "param([Parameter(Mandatory = $true)][string]$Identity)", first
    block_text = script.split("$values = @(\n", 1)[1].split("\n)", 1)[0]
    values = [_unquote(m) for m in re.findall(rf"^    {_STRING}$", block_text, re.M)]
    op = re.search(r"-SenderIPAddresses @\{(Add|Remove) = \$part\}", script)
    assert op is not None
    return (_unquote(ident.group(1)) if ident else None), values, op.group(1)


def _dump(path: Path, values: list[str]) -> None:
    path.write_text(DUMP.replace("VALUES", ", ".join(values)))


def test_roundtrip_rollback_and_prune_through_the_reader(tmp_path: Path) -> None:
    expected = tmp_path / "expected.txt"
    expected.write_text(EXPECTED)
    dump = tmp_path / "inbound.txt"
    held = ["203.0.113.0/25", "203.0.113.128/25", "192.0.2.0/25", "10.9.8.0/24"]
    _dump(dump, held)
    out = tmp_path / "out"
    argv = ["-e", str(expected), "-d", str(dump)]
    assert diff(*argv, "--rules", "auto", "--output-dir", str(out)) == 1
    ident, values, op = _changes((out / "m365-v4-apply.ps1").read_text())
    assert (ident, op) == ("Relays", "Add")
    # /22 as its four /24s, a /32 as the address; what the connector holds is not written
    assert values == [
        "100.64.0.0/24", "100.64.1.0/24", "100.64.2.0/24", "100.64.3.0/24",
        "192.0.2.128/25", "198.51.100.7",
    ]  # fmt: skip
    for value in values:
        p = ipspace.parse(value)
        assert p.family == 4 and (p.prefixlen is None or 24 <= p.prefixlen <= 32)
    _dump(dump, held + values)
    assert diff(*argv) == 0
    back = _changes((out / "m365-v4-rollback.ps1").read_text())
    assert back == (ident, values, "Remove")
    # prune: the scope's wholly extra entries, as the export writes them
    assert diff(*argv, "--scope", "Relays", "--fail-on-extra") == 1
    pruned = tmp_path / "pruned"
    code = diff(
        *argv, "--scope", "Relays", "--rules", "m365", "--prune", "--output-dir", str(pruned)
    )
    assert code == 0
    p_ident, gone, p_op = _changes((pruned / "m365-v4-prune.ps1").read_text())
    assert (p_ident, p_op) == ("Relays", "Remove")
    assert gone == ["10.9.8.0/24", "203.0.113.0/25"]
    _dump(dump, [v for v in held + values if v not in gone])
    assert diff(*argv, "--scope", "Relays", "--fail-on-extra") == 0


def test_a_partly_extra_entry_is_kept_and_named(tmp_path: Path) -> None:
    expected = tmp_path / "expected.txt"
    expected.write_text("192.0.2.0/25\n")
    dump = tmp_path / "inbound.txt"
    _dump(dump, ["192.0.2.0/24"])
    out = tmp_path / "out"
    argv = ["-e", str(expected), "-d", str(dump), "--scope", "Relays", "--prune"]
    assert diff(*argv, "--rules", "m365", "--output-dir", str(out)) == 0
    text = (out / "m365-v4-prune.ps1").read_text()
    assert _changes(text)[1] == []
    assert "# kept: 192.0.2.0/24 is only partly extra" in text


def test_prune_needs_the_connector_export(tmp_path: Path) -> None:
    gen = generator_for("m365")
    opts = RuleOptions(service=Service.parse("tcp/25"), scope=("Relays",), prune=(
        block("10.0.0.0/24"),))  # fmt: skip
    with pytest.raises(UsageError, match="export"):
        gen.checked_artifacts([], opts)


def test_ipv6_is_refused_and_an_unknown_connector_is_asked_for() -> None:
    gen = generator_for("m365")
    opts = RuleOptions(service=Service.parse("tcp/25"))
    with pytest.raises(UsageError, match="IPv6"):
        gen.checked_artifacts(small_blocks(), opts)
    v4 = [b for b in small_blocks() if b.family == 4]
    arts = gen.checked_artifacts(v4, opts)
    assert [(a.kind, a.family) for a in arts] == [("apply", 4), ("rollback", 4)]
    ident, values, _ = _changes(arts[0].body)
    assert ident is None and values == ["192.0.2.0/24", "198.51.100.7"]


_names = st.one_of(st.text(min_size=1, max_size=70), st.sampled_from(HOSTILE_SOURCES))


@settings(max_examples=200, deadline=None)
@given(name=_names)
def test_hostile_connector_names(name: str) -> None:
    gen = generator_for("m365")
    opts = RuleOptions(service=Service.parse("tcp/25"), scope=(name,))
    v4 = [b for b in small_blocks() if b.family == 4]
    try:
        arts = gen.checked_artifacts(v4, opts)
    except UsageError:
        assert (
            any(
                not c.isprintable() or c in "\u2018\u2019\u201a\u201b" or c.isspace() and c != " "
                for c in name
            )
            or not name.strip()
        )
        return
    for art in arts:
        assert _changes(art.body)[0] == name
        assert len(art.body.splitlines()) == 14  # nothing in the name starts a line


def test_with_auto_each_source_sees_only_its_own_scope(tmp_path: Path) -> None:
    """--scope names the Postfix table: the connector's script keeps its own connector, and
    only the table is pruned (a scope of another source is no name for this one)."""
    expected = tmp_path / "expected.txt"
    expected.write_text("192.0.2.0/24\n198.51.100.7\n")
    dump = tmp_path / "inbound.txt"
    _dump(dump, ["192.0.2.0/24", "10.1.1.0/24"])
    table = tmp_path / "client_access.cidr"
    table.write_text("192.0.2.0/24 OK\n10.2.2.0/24 OK\n")
    out = tmp_path / "out"
    argv = ["-e", str(expected), "-d", str(dump), "-d", str(table), "--scope", str(table)]
    assert diff(*argv, "--prune", "--rules", "auto", "--output-dir", str(out)) == 1
    (m365_dir,) = out.glob("m365-*")
    assert _changes((m365_dir / "m365-v4-apply.ps1").read_text())[0] == "Relays"
    assert not (m365_dir / "m365-v4-prune.ps1").exists()
    (postfix_dir,) = out.glob("postfix-*")
    assert "10.2.2.0/24" in (postfix_dir / "postfix-all-prune.sh").read_text()

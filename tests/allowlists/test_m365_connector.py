"""Exchange Online inbound connectors (Get-InboundConnector | Format-List): SenderIPAddresses
per connector, each a scope; disabled connectors, IPv6 values, cut lists and other services."""

from __future__ import annotations

from pathlib import Path

from typer.testing import CliRunner

from auditor.allowlists.base import ReadContext
from auditor.allowlists.mail.m365_connector import M365ConnectorReader
from auditor.cli import app
from auditor.model import Completeness, RangeSet
from auditor.service import Service
from auditor.sources.files import detect_format

DUMP = """PS C:\\> Get-InboundConnector | Format-List

Identity                     : ServiceNow relays
Name                         : ServiceNow relays
Enabled                      : True
ConnectorType                : Partner
SenderDomains                : {smtp:*.service-now.com;1}
SenderIPAddresses            : {192.0.2.0/24, 198.51.100.7,
                               203.0.113.0/25}
RestrictDomainsToIPAddresses : True

Identity                     : Old partner
Name                         : Old partner
Enabled                      : False
SenderIPAddresses            : {10.0.0.0/24}
RestrictDomainsToIPAddresses : False
"""


def _read(text: str, service: str | None = None) -> RangeSet:
    ctx = ReadContext(
        name="inbound.txt",
        role="declared",
        service=Service.parse(service) if service else None,
    )
    return M365ConnectorReader().parse(text.encode(), ctx)


def _cidrs(rs: RangeSet) -> list[tuple[str, int | None, str | None]]:
    return [(e.text, e.origin.line, e.group) for e in rs.entries]


def test_reads_each_enabled_connector_as_a_scope_with_lines() -> None:
    rs = _read(DUMP)
    assert rs.info.format == "m365-connector"
    assert rs.completeness is Completeness.COMPLETE
    assert rs.families == (4,)
    assert rs.entries.groups == ("ServiceNow relays",)
    got = [(text, line) for text, line, _ in _cidrs(rs)]
    assert got == [("192.0.2.0/24", 8), ("198.51.100.7/32", 8), ("203.0.113.0/25", 9)]
    kinds = {f.kind for f in rs.findings}
    assert "disabled" in kinds


def test_an_ipv6_value_is_an_error_and_the_source_partial() -> None:
    rs = _read(DUMP.replace("198.51.100.7", "2001:db8::1"))
    assert rs.completeness is Completeness.PARTIAL
    bad = [f for f in rs.findings if f.kind == "bad-entry"]
    assert bad and "IPv4 addresses only" in bad[0].message and bad[0].origin.line == 8
    assert [t for t, _, _ in _cidrs(rs)] == ["192.0.2.0/24", "203.0.113.0/25"]


def test_a_list_cut_short_makes_the_source_partial() -> None:
    rs = _read(DUMP.replace("203.0.113.0/25}", "203.0.113.0/25...}"))
    assert rs.completeness is Completeness.PARTIAL
    assert any("cut short" in r for r in rs.reasons)


def test_not_restricting_is_said() -> None:
    rs = _read(DUMP.replace("Enabled                      : False", "Enabled : True"))
    notes = [f for f in rs.findings if f.kind == "not-restricted"]
    assert len(notes) == 1 and "Old partner" in notes[0].message
    assert "Old partner" in rs.entries.groups


def test_detected_by_content_and_not_taken_for_a_receive_connector() -> None:
    assert detect_format("inbound.txt", DUMP.encode()) == "m365-connector"
    receive = "Identity : EX\\Default\nRemoteIPRanges : {192.0.2.0/24}\n"
    assert detect_format("receive.txt", receive.encode()) == "exchange-connector"


def test_cli_other_service_ipv6_uncovered_and_scope(tmp_path: Path) -> None:
    dump = tmp_path / "inbound.txt"
    dump.write_text(DUMP)
    exp = tmp_path / "exp.txt"
    exp.write_text("192.0.2.0/24\n198.51.100.7\n")
    run = CliRunner().invoke
    ok = run(app, ["diff", "-e", str(exp), "-d", str(dump), "--scope", "ServiceNow relays"])
    assert ok.exit_code == 0, ok.output
    assert "203.0.113.0/25" in ok.output  # extra in the scope
    other = run(app, ["diff", "-e", str(exp), "-d", str(dump), "--service", "tcp/587"])
    assert other.exit_code == 2 and "tcp/25" in other.output
    exp.write_text("192.0.2.0/24\n2001:db8::/32\n")
    v6 = run(app, ["diff", "-e", str(exp), "-d", str(dump)])
    assert v6.exit_code == 2 and "no declared source covers IPv6" in v6.output

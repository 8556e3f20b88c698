"""Each report through the real command line, in-process."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import jsonschema
import pytest
from typer.testing import CliRunner

from auditor.cli import app

from .helpers import ALLOW, NODES, SCHEMA


@pytest.fixture
def files(tmp_path: Path) -> tuple[str, str]:
    nodes = tmp_path / "nodes.txt"
    allow = tmp_path / "allow.yaml"
    nodes.write_text(NODES, encoding="utf-8")
    allow.write_text(ALLOW, encoding="utf-8")
    return str(nodes), str(allow)


def diff(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(app, ["diff", *args])
    assert result.exception is None or isinstance(result.exception, SystemExit), result.output
    return result.exit_code, result.stdout


def validate(text: str) -> dict[str, object]:
    doc = json.loads(text)
    jsonschema.Draft202012Validator(json.loads(SCHEMA.read_text(encoding="utf-8"))).validate(doc)
    assert isinstance(doc, dict)
    return doc


@pytest.mark.parametrize(
    ("fmt", "start"),
    [
        ("text", "allowlist-auditor report\n\nverdict: drift (exit 1)\n"),
        ("md", "# Allowlist audit: drift\n"),
        ("csv", "kind,family,network,addresses,"),
        ("json", "{\n"),
    ],
)
def test_diff_renders_each_report(files: tuple[str, str], fmt: str, start: str) -> None:
    nodes, allow = files
    code, out = diff("-e", nodes, "-d", allow, "--scope", "mail", "-o", fmt)
    assert code == 1
    assert out.startswith(start)
    assert "\x1b" not in out
    if fmt == "json":
        doc = validate(out)
        assert doc["verdict"] == {
            "status": "drift",
            "exit_code": 1,
            "reasons": [
                "11 missing CIDRs (IPv4: 10 CIDRs, 321 addresses; IPv6: 1 CIDR, 2^80 addresses)",
                "1 over-broad declared entry",
                "1 extra CIDR in scope (not failing: no --fail-on-extra)",
            ],
        }
    if fmt == "csv":
        rows = list(csv.DictReader(io.StringIO(out, newline="")))
        assert {r["kind"] for r in rows} == {"missing", "partial", "extra", "over-broad", "finding"}


def test_a_failed_source_is_in_the_report(files: tuple[str, str], tmp_path: Path) -> None:
    nodes, allow = files
    gone = str(tmp_path / "gone.txt")
    code, out = diff("-e", nodes, "-e", gone, "-d", allow, "-o", "json")
    assert code == 2
    doc = validate(out)
    failed = [i for i in doc["inputs"] if i["name"] == gone]  # type: ignore[attr-defined]
    assert failed == [
        {
            "name": gone,
            "role": "expected",
            "format": "unknown",
            "sha256": None,
            "size_bytes": None,
            "read_at": None,
            "detail": None,
            "url": None,
            "version": None,
            "retrieved_at": None,
            "cache": None,
            "companions": [],
            "completeness": "failed",
            "reasons": [f"{gone}: no such file"],
            "entries": {"ipv4": 0, "ipv6": 0},
        }
    ]
    assert doc["verdict"]["status"] == "incomplete"  # type: ignore[index]


@pytest.mark.parametrize("fmt", ["text", "md", "json"])
def test_a_failed_declared_source_makes_missing_unverified(tmp_path: Path, fmt: str) -> None:
    """Unread, the declared source may allow the expected CIDRs: not called missing."""
    nodes = tmp_path / "e.txt"
    nodes.write_text("192.0.2.0/24\n", encoding="utf-8")
    gone = str(tmp_path / "nonexistent.txt")
    code, out = diff("-e", str(nodes), "-d", gone, "-o", fmt)
    assert code == 2
    reason = (
        f"1 IPv4 CIDR (256 addresses) not shown allowed (unverified: declared source {gone} failed)"
    )
    if fmt == "json":
        doc = validate(out)
        assert doc["verdict"]["reasons"] == [  # type: ignore[index]
            f"declared source {gone} is failed: {gone}: no such file",
            reason,
        ]
        assert doc["missing_verified"] is False
        assert doc["unverified_because"] == [gone]
        assert [b["cidr"] for b in doc["missing"]] == ["192.0.2.0/24"]  # type: ignore[attr-defined]
        return
    assert reason in out
    assert "missing" not in out.lower()
    assert "192.0.2.0/24" in out


def test_output_file_gets_the_same_report(files: tuple[str, str], tmp_path: Path) -> None:
    nodes, allow = files
    target = tmp_path / "report.md"
    code, out = diff("-e", nodes, "-d", allow, "-o", "md", "--output-file", str(target))
    assert code == 1
    assert out == ""
    assert target.read_text(encoding="utf-8").startswith("# Allowlist audit: drift\n")


def test_formats_lists_the_reports() -> None:
    out = CliRunner().invoke(app, ["formats"]).stdout
    for name in ("text", "json", "csv", "md", "cidr"):
        assert f"\n  {name} " in out
